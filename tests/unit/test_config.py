"""shared/config.py: defaults, embedded mode, environment overrides and derived paths."""

from __future__ import annotations

import dataclasses

import pytest

from shared.config import QUEUES, Settings, get_settings, load_settings


def test_defaults_with_an_empty_environment(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    settings = load_settings({})
    assert settings.redis_url is None
    assert settings.embedded is True
    assert settings.home == tmp_path / "var"
    assert settings.models_dir == tmp_path / "var" / "models"
    assert settings.datasets_dir == tmp_path / "var" / "datasets"
    assert settings.chunk_size == 500
    assert settings.max_molecules == 100_000
    assert settings.max_content_length == 50 * 1024 * 1024
    assert settings.result_ttl_seconds == 7 * 24 * 3600
    assert settings.task_soft_time_limit == 300
    assert settings.task_time_limit == 360
    assert settings.broker_timeout_seconds == 2.0
    assert settings.model_cache_size == 4
    assert settings.log_level == "INFO"


def test_paths_are_absolute_even_when_configured_relative(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    settings = load_settings({"CAUSALMOL_HOME": "rel/home"})
    assert settings.home.is_absolute() and settings.models_dir.is_absolute()
    assert settings.home == tmp_path / "rel" / "home"


@pytest.mark.parametrize("url", [None, ""])
def test_no_redis_url_means_embedded(url):
    env = {} if url is None else {"CAUSALMOL_REDIS_URL": url}
    settings = load_settings(env)
    assert settings.redis_url is None
    assert settings.embedded


def test_a_redis_url_means_distributed():
    settings = load_settings({"CAUSALMOL_REDIS_URL": "redis://example:6379/3"})
    assert settings.redis_url == "redis://example:6379/3"
    assert settings.embedded is False


def test_models_and_datasets_dirs_are_derived_from_home(tmp_path):
    settings = load_settings({"CAUSALMOL_HOME": str(tmp_path / "home")})
    assert settings.home == tmp_path / "home"
    assert settings.models_dir == tmp_path / "home" / "models"
    assert settings.datasets_dir == tmp_path / "home" / "datasets"


def test_explicit_dirs_win_over_home(tmp_path):
    settings = load_settings({"CAUSALMOL_HOME": str(tmp_path / "home"), "CAUSALMOL_MODELS_DIR": str(tmp_path / "m"),
                              "CAUSALMOL_DATASETS_DIR": str(tmp_path / "d")})
    assert settings.home == tmp_path / "home"
    assert settings.models_dir == tmp_path / "m"
    assert settings.datasets_dir == tmp_path / "d"


def test_every_variable_overrides_its_default():
    settings = load_settings({
        "CAUSALMOL_CHUNK_SIZE": "7",
        "CAUSALMOL_MAX_MOLECULES": "11",
        "CAUSALMOL_MAX_CONTENT_LENGTH": "1024",
        "CAUSALMOL_RESULT_TTL": "60",
        "CAUSALMOL_TASK_SOFT_TIME_LIMIT": "5",
        "CAUSALMOL_TASK_TIME_LIMIT": "6",
        "CAUSALMOL_BROKER_TIMEOUT": "0.5",
        "CAUSALMOL_MODEL_CACHE_SIZE": "2",
        "CAUSALMOL_LOG_LEVEL": "debug",
    })
    assert (settings.chunk_size, settings.max_molecules, settings.max_content_length) == (7, 11, 1024)
    assert (settings.result_ttl_seconds, settings.task_soft_time_limit, settings.task_time_limit) == (60, 5, 6)
    assert settings.broker_timeout_seconds == 0.5
    assert settings.model_cache_size == 2
    assert settings.log_level == "DEBUG"  # normalised to upper case


def test_non_numeric_value_is_rejected():
    with pytest.raises(ValueError):
        load_settings({"CAUSALMOL_CHUNK_SIZE": "lots"})


def test_load_settings_reads_the_process_environment_by_default(monkeypatch):
    monkeypatch.setenv("CAUSALMOL_CHUNK_SIZE", "3")
    assert load_settings().chunk_size == 3


def test_settings_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        Settings().chunk_size = 1  # type: ignore[misc]


def test_get_settings_is_cached_until_cleared(settings_env):
    settings_env(CAUSALMOL_CHUNK_SIZE="9")
    first = get_settings()
    assert first.chunk_size == 9
    settings_env(CAUSALMOL_CHUNK_SIZE="10")  # also clears the cache
    assert get_settings().chunk_size == 10
    assert get_settings() is get_settings()


def test_one_queue_per_service():
    assert QUEUES == ("featurizer", "scoring", "predictor", "causal")

