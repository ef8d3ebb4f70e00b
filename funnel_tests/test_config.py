"""The stage catalog and role pipelines: the packaged default, funnel.yaml replacing it, and every config error."""

from __future__ import annotations

import textwrap
from datetime import datetime
from pathlib import Path

import pytest
import yaml

from funnel.config import Config, ConfigError, Fairness, Role, default_config, load_config, load_config_file, parse_config
from funnel.settings import FunnelError

CATALOG = ("application_review", "recruiter_screen", "technical_screen", "take_home", "onsite",
           "hiring_committee", "team_matching", "offer")

VALID = """\
stages: [application_review, recruiter_screen, technical_screen, onsite, offer]
roles:
  backend:
    pipeline: [application_review, technical_screen, onsite, offer]
    onsite_skills: [coding, system_design]
  intern:
    pipeline: [application_review, recruiter_screen, offer]
skills: [communication, coding]
team_matching_stall_days: 30
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "funnel.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_default_config_has_the_catalog_roles_and_skills():
    config = default_config()
    assert config.stages == CATALOG
    assert list(config.roles) == ["ml_engineer", "software_engineer", "research_scientist", "data_scientist"]
    assert config.roles["ml_engineer"] == Role(
        "ml_engineer",
        ("application_review", "recruiter_screen", "technical_screen", "onsite", "hiring_committee", "team_matching", "offer"),
        ("coding", "ml_theory", "ml_system_design", "behavioral"),
    )
    # Roles differ: research has a take-home and no team matching; data science has no committee either.
    research = config.roles["research_scientist"].pipeline
    assert "take_home" in research and "team_matching" not in research and "technical_screen" not in research
    data = config.roles["data_scientist"].pipeline
    assert "hiring_committee" not in data and "team_matching" not in data
    # Skills: every role's onsite_skills, first seen first, then the extra top-level skills; no repeats.
    assert config.skills == ("coding", "ml_theory", "ml_system_design", "behavioral", "system_design",
                             "research_depth", "statistics", "product_sense", "communication")
    assert config.extra_skills == ("communication",)
    assert config.team_matching_stall_days == 56
    assert config.source == "<default config>"
    assert config.stage_order("application_review") == 1 and config.stage_order("offer") == 8


def test_funnel_yaml_replaces_the_default(tmp_path):
    path = write(tmp_path, VALID)
    config = load_config(path)
    assert config.stages == ("application_review", "recruiter_screen", "technical_screen", "onsite", "offer")
    assert list(config.roles) == ["backend", "intern"]  # no default role survives
    assert config.roles["intern"] == Role("intern", ("application_review", "recruiter_screen", "offer"), ())
    assert config.skills == ("coding", "system_design", "communication")
    assert config.team_matching_stall_days == 30
    assert config.source == str(path)


def test_missing_funnel_yaml_means_the_default(tmp_path):
    assert load_config(tmp_path / "funnel.yaml") == default_config()


def test_stall_days_default_to_56_and_skills_to_onsite_skills(tmp_path):
    config = load_config_file(write(tmp_path, """\
        stages: [screen, onsite]
        roles:
          eng: {pipeline: [screen, onsite], onsite_skills: [coding]}
        """))
    assert config.team_matching_stall_days == 56
    assert config.skills == ("coding",) and config.extra_skills == ()


def test_to_yaml_round_trips(tmp_path):
    for config in (default_config(), load_config_file(write(tmp_path, VALID))):
        again = parse_config(yaml.safe_load(config.to_yaml()), config.source)
        assert again == config


ERRORS = [
    pytest.param("stages: [a, b\nroles: {}\n", "line 2", "is not valid YAML (expected ',' or ']', but got ':')", id="invalid-yaml"),
    pytest.param("", "<top level>", "must be a mapping with keys stages and roles", id="empty-file"),
    pytest.param("- a\n- b\n", "<top level>", "must be a mapping with keys stages and roles", id="top-level-list"),
    pytest.param(
        "stages: [a]\nroles: {r: {pipeline: [a]}}\nstall_days: 3\n",
        "stall_days",
        "unknown key (allowed: earliest_timestamp, encoding, fairness, future_tolerance_days, pseudonymize_interviewers, "
        "quarantine_threshold, roles, skills, sources, stages, team_matching_stall_days)",
        id="unknown-top-level-key",
    ),
    pytest.param(
        "stages: [a]\nroles: {r: {pipeline: [a]}}\nfuture_tolerance_days: -1\n", "future_tolerance_days",
        "must be a number of days, 0 or more (1 = one day ahead of ingestion), got -1", id="future-tolerance-negative",
    ),
    pytest.param(
        "stages: [a]\nroles: {r: {pipeline: [a]}}\nearliest_timestamp: last year\n", "earliest_timestamp",
        "must be a date or an ISO-8601 timestamp (e.g. 2000-01-01), got 'last year'", id="earliest-timestamp-not-a-date",
    ),
    pytest.param(
        "stages: [a]\nroles: {r: {pipeline: [a]}}\nencoding: klingon\n", "encoding",
        "unknown encoding 'klingon' (e.g. utf-8, utf-8-sig, windows-1252, latin-1)", id="unknown-encoding",
    ),
    pytest.param(
        "stages: [a]\nroles: {r: {pipeline: [a]}}\nencoding: base64\n", "encoding",
        "'base64' is not a text encoding (e.g. utf-8, windows-1252, latin-1)", id="not-a-text-encoding",
    ),
    pytest.param(
        "stages: [a]\nroles: {r: {pipeline: [a]}}\npseudonymize_interviewers: maybe\n", "pseudonymize_interviewers",
        "must be true or false, got 'maybe'", id="pseudonymize-not-boolean",
    ),
    pytest.param(
        "stages: [a]\nroles: {r: {pipeline: [a]}}\nfairness: {min_group_size: 0}\n", "fairness.min_group_size",
        "must be a whole number of applicants, 1 or more, got 0", id="fairness-min-group-size",
    ),
    pytest.param(
        "stages: [a]\nroles: {r: {pipeline: [a]}}\nfairness: {min_group_share: 2}\n", "fairness.min_group_share",
        "must be a share between 0 and 1 (0.02 = 2%), got 2", id="fairness-min-group-share",
    ),
    pytest.param(
        "stages: [a]\nroles: {r: {pipeline: [a]}}\nfairness: {min_size: 5}\n", "fairness.min_size",
        "unknown key (allowed: min_group_share, min_group_size)", id="fairness-unknown-key",
    ),
    pytest.param("roles: {r: {pipeline: [a]}}\n", "stages", "is required", id="no-stages"),
    pytest.param("stages: [a]\n", "roles", "is required", id="no-roles"),
    pytest.param("stages: a, b\nroles: {r: {pipeline: [a]}}\n", "stages", "must be a list of names, got str", id="stages-not-a-list"),
    pytest.param("stages: []\nroles: {r: {pipeline: [a]}}\n", "stages", "must not be empty", id="stages-empty"),
    pytest.param("stages: [a, 3]\nroles: {r: {pipeline: [a]}}\n", "stages", "every entry must be a non-empty name, got 3", id="stage-not-a-string"),
    pytest.param("stages: [a, Onsite]\nroles: {r: {pipeline: [a]}}\n", "stages",
                 "'Onsite' must be lower case with no surrounding spaces", id="stage-upper-case"),
    pytest.param("stages: [a, b, a]\nroles: {r: {pipeline: [a]}}\n", "stages", "lists a more than once", id="duplicate-stage"),
    pytest.param("stages: [a, b]\nroles: [r]\n", "roles", "must be a non-empty mapping of role name to its pipeline", id="roles-a-list"),
    pytest.param("stages: [a, b]\nroles: {r: [a, b]}\n", "roles.r", "must be a mapping with a pipeline, got list", id="role-a-list"),
    pytest.param("stages: [a, b]\nroles: {Eng: {pipeline: [a]}}\n", "roles.Eng", "role names must be lower-case strings", id="role-upper-case"),
    pytest.param(
        "stages: [a, b]\nroles: {r: {pipeline: [a], onsite_skill: [x]}}\n",
        "roles.r.onsite_skill", "unknown key (allowed: onsite_skills, pipeline)", id="unknown-role-key",
    ),
    pytest.param("stages: [a, b]\nroles: {r: {onsite_skills: []}}\n", "roles.r.pipeline", "is required", id="no-pipeline"),
    pytest.param("stages: [a, b]\nroles: {r: {pipeline: a}}\n", "roles.r.pipeline", "must be a list of names, got str", id="pipeline-not-a-list"),
    pytest.param(
        "stages: [a, b]\nroles: {r: {pipeline: [a, c]}}\n",
        "roles.r.pipeline", "stage 'c' is not in the stage catalog", id="stage-not-in-catalog",
    ),
    pytest.param(
        "stages: [a, b, c]\nroles: {r: {pipeline: [a, c, b]}}\n",
        "roles.r.pipeline", "'b' comes before 'c' in the stage catalog; list stages in catalog order", id="out-of-catalog-order",
    ),
    pytest.param("stages: [a, b]\nroles: {r: {pipeline: [a, b, a]}}\n", "roles.r.pipeline", "lists a more than once", id="duplicate-pipeline-stage"),
    pytest.param(
        "stages: [a, onsite]\nroles: {r: {pipeline: [a], onsite_skills: [coding]}}\n",
        "roles.r.onsite_skills", "is set but the role's pipeline has no onsite stage", id="onsite-skills-without-onsite",
    ),
    pytest.param(
        "stages: [onsite]\nroles: {r: {pipeline: [onsite], onsite_skills: coding}}\n",
        "roles.r.onsite_skills", "must be a list of names, got str", id="onsite-skills-not-a-list",
    ),
    pytest.param("stages: [a]\nroles: {r: {pipeline: [a]}}\nskills: {coding: 1}\n", "skills", "must be a list of names, got dict", id="skills-not-a-list"),
    pytest.param(
        "stages: [a]\nroles: {r: {pipeline: [a]}}\nteam_matching_stall_days: 0\n",
        "team_matching_stall_days", "must be a positive whole number of days, got 0", id="stall-days-zero",
    ),
    pytest.param(
        "stages: [a]\nroles: {r: {pipeline: [a]}}\nteam_matching_stall_days: -7\n",
        "team_matching_stall_days", "must be a positive whole number of days, got -7", id="stall-days-negative",
    ),
    pytest.param(
        "stages: [a]\nroles: {r: {pipeline: [a]}}\nteam_matching_stall_days: '56'\n",
        "team_matching_stall_days", "must be a positive whole number of days, got '56'", id="stall-days-string",
    ),
    pytest.param(
        "stages: [a]\nroles: {r: {pipeline: [a]}}\nteam_matching_stall_days: 1.5\n",
        "team_matching_stall_days", "must be a positive whole number of days, got 1.5", id="stall-days-float",
    ),
    pytest.param(
        "stages: [a]\nroles: {r: {pipeline: [a]}}\nteam_matching_stall_days: true\n",
        "team_matching_stall_days", "must be a positive whole number of days, got True", id="stall-days-bool",
    ),
]


@pytest.mark.parametrize("text, key, problem", ERRORS)
def test_invalid_config_fails_with_file_key_and_problem(tmp_path, text, key, problem):
    path = tmp_path / "funnel.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    error = caught.value
    assert str(error) == f"{path}: {key}: {problem}"
    assert (error.source, error.key, error.problem) == (str(path), key, problem)
    assert isinstance(error, FunnelError)  # the CLI prints it as one line


def test_unreadable_config_file_is_a_config_error(tmp_path):
    path = tmp_path / "funnel.yaml"
    path.write_bytes(b"stages: [\xff\xfe]\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.source == str(path) and caught.value.key == "<file>"
    assert caught.value.problem.startswith("cannot be read (")


def test_config_type_is_immutable():
    config = default_config()
    with pytest.raises(AttributeError):
        config.stages = ()  # type: ignore[misc]
    assert isinstance(config, Config)


@pytest.mark.parametrize("bad", ["0.5%", 1.5, -0.1, True])
def test_quarantine_threshold_must_be_a_share(tmp_path, bad):
    path = tmp_path / "funnel.yaml"
    path.write_text(yaml.safe_dump({"stages": ["a"], "roles": {"r": {"pipeline": ["a"]}}, "quarantine_threshold": bad}))
    with pytest.raises(ConfigError) as err:
        load_config_file(path)
    assert err.value.key == "quarantine_threshold"
    assert str(path) in str(err.value) and "between 0 and 1" in str(err.value)


def test_quarantine_threshold_defaults_to_five_percent_and_round_trips(tmp_path):
    assert default_config().quarantine_threshold == 0.05
    path = tmp_path / "funnel.yaml"
    path.write_text("stages: [a]\nroles:\n  r:\n    pipeline: [a]\nquarantine_threshold: 0.2\n")
    config = load_config_file(path)
    assert config.quarantine_threshold == 0.2
    assert "quarantine_threshold: 0.2" in config.to_yaml()


def test_timestamp_and_encoding_settings_default_and_parse(tmp_path):
    default = default_config()
    assert default.future_tolerance_days == 1
    assert default.earliest_timestamp == datetime(2000, 1, 1)
    assert default.encoding is None and default.pseudonymize_interviewers is False
    config = load_config_file(write(tmp_path, """\
        stages: [screen]
        roles: {eng: {pipeline: [screen]}}
        future_tolerance_days: 0.5
        earliest_timestamp: "2015-06-01T12:00:00+02:00"
        encoding: Windows-1252
        pseudonymize_interviewers: true
        """))
    assert config.future_tolerance_days == 0.5
    assert config.earliest_timestamp == datetime(2015, 6, 1, 10, 0)  # in UTC
    assert config.encoding == "cp1252"  # Python's canonical name for Windows-1252
    assert config.pseudonymize_interviewers is True
    assert parse_config(yaml.safe_load(config.to_yaml()), config.source) == config
    auto = load_config_file(write(tmp_path, "stages: [s]\nroles: {r: {pipeline: [s]}}\nencoding: auto\n"))
    assert auto.encoding is None


def test_fairness_settings_default_and_parse(tmp_path):
    assert default_config().fairness == Fairness(10, 0.02)
    config = load_config_file(write(tmp_path, "stages: [s]\nroles: {r: {pipeline: [s]}}\nfairness: {min_group_size: 30}\n"))
    assert config.fairness == Fairness(30, 0.02)
    assert parse_config(yaml.safe_load(config.to_yaml()), config.source) == config
