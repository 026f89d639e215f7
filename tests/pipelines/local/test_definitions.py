"""A local run builds each pipeline's definition once per code and settings, and reads it back after that."""
from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import pytest

from pipelines.local.run import local_definition
from pipelines.settings import load_settings


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("definitions")


@pytest.mark.parametrize("which", ["training", "inference"])
def test_a_cached_definition_is_the_definition_a_fresh_build_gives(cache, which):
    settings = load_settings(environ={})
    built, built_settings = local_definition(settings, which=which)
    first, _ = local_definition(settings, which=which, cache_dir=cache)
    again, again_settings = local_definition(settings, which=which, cache_dir=cache)
    assert first == again == built
    assert again_settings == built_settings
    assert len(list(cache.glob(f"{which}-*.json"))) == 1
    # the SDK imported once builds every pipeline's: run-local's build serves the first predict
    assert {path.name.split("-")[0] for path in cache.glob("*.json")} == {"training", "inference", "evolution"}


def test_other_settings_build_another_definition(cache):
    settings = load_settings(environ={})
    local_definition(settings, which="inference", cache_dir=cache)
    other, _ = local_definition(dataclasses.replace(settings, prefix="elsewhere"), which="inference", cache_dir=cache)
    assert "s3://tweetops-local/elsewhere/" in other
    assert len(list(cache.glob("inference-*.json"))) == 2


def test_reading_a_cached_definition_does_not_import_the_sagemaker_sdk(cache):
    local_definition(load_settings(environ={}), which="inference", cache_dir=cache)
    program = (f"import sys; from pipelines.local.run import local_definition; "
               f"from pipelines.settings import load_settings; "
               f"text, _ = local_definition(load_settings(environ={{}}), which='inference', cache_dir={str(cache)!r}); "
               f"print(sorted(m for m in sys.modules if m.startswith('sagemaker')), len(text))")
    loaded, length = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True,
                                    check=True).stdout.rsplit(" ", 1)
    assert loaded == "[]"
    assert int(length) > 1000
    assert json.loads(next(cache.glob("inference-*.json")).read_text())["Parameters"]
