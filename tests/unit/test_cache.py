"""Cache keys and the explanations of cache misses."""

from pathlib import Path
from typing import Any

import pandas as pd

from shipyard import Materializer, pipeline, register_materializer, step
from shipyard.engine.cache import (
    CACHE_FORMAT,
    CacheKey,
    changes,
    compute_cache_key,
    explain_miss,
)
from shipyard.engine.hashing import code_parts, stable_hash
from shipyard.materializers.base import qualified_name
from shipyard.stores.metadata import ArtifactRecord, StepRunRecord


def artifact(
    artifact_id: str, *, materializer: str = "pandas-parquet", version: int = 1
) -> ArtifactRecord:
    return ArtifactRecord(
        id=artifact_id,
        data_type="pandas.DataFrame",
        materializer=materializer,
        materializer_version=version,
        uri=f"file:///store/{artifact_id}",
        size=10,
        files=1,
        created_at=0.0,
    )


TRAIN = artifact("a" * 64)
TRAIN_OTHER = artifact("b" * 64)


@step
def load(rows: int = 10) -> pd.DataFrame:
    return pd.DataFrame({"x": range(rows)})


@step
def fit(train: pd.DataFrame, lr: float = 0.1, epochs: int = 3) -> dict:
    return {"lr": lr, "rows": len(train)}


@pipeline
def training(lr: float = 0.1, epochs: int = 3):
    fit(load(), lr=lr, epochs=epochs)


def fit_key(inputs: dict[str, ArtifactRecord] | None = None, **params: Any) -> CacheKey:
    node = training.build(**params).node("fit")
    return compute_cache_key(node, {"train": TRAIN} if inputs is None else inputs)


def previous_run(parts: dict[str, Any], status: str = "completed") -> StepRunRecord:
    return StepRunRecord(
        id="sr-old", run_id="run-old", step="fit", status=status, cache_parts=parts
    )


# -- the key -----------------------------------------------------------------


def test_key_parts_cover_code_params_inputs_materializers_and_options():
    key = fit_key(lr=0.2)
    # The key hashes the parts, counting the code by its hashes, not their names.
    material = {**key.parts, "code": sorted(key.parts["code"].values())}
    assert key.key == stable_hash(material)
    assert key.parts == {
        "format": CACHE_FORMAT,
        "code": code_parts(fit.func),
        "params": {"lr": 0.2, "epochs": 3},
        "inputs": {"train": TRAIN.id},
        "materializers": {"in:train": "pandas-parquet/1", "out:output": "json/1"},
        "options": {"allow_pickle": False},
    }
    assert f"{__name__}.fit" in key.parts["code"]


def test_key_is_deterministic():
    assert fit_key().key == fit_key().key
    assert fit_key(lr=0.1).key == fit_key(lr="0.1").key  # the same validated params


def test_key_changes_with_params():
    assert fit_key(lr=0.1).key != fit_key(lr=0.2).key
    assert fit_key(epochs=3).key != fit_key(epochs=4).key


def test_key_changes_with_inputs():
    assert fit_key({"train": TRAIN}).key != fit_key({"train": TRAIN_OTHER}).key


def test_key_changes_with_the_input_materializer_version():
    newer = artifact(TRAIN.id, version=2)
    assert fit_key({"train": TRAIN}).key != fit_key({"train": newer}).key


def test_key_changes_with_allow_pickle():
    node = training.build().node("fit")
    pickled = type(node)(
        node.name,
        node.step.with_options(allow_pickle=True),
        node.inputs,
        node.params,
        node.params_json,
    )
    before = compute_cache_key(node, {"train": TRAIN})
    after = compute_cache_key(pickled, {"train": TRAIN})
    assert after.key != before.key
    assert changes(after.parts, before.parts) == ["step options changed"]


def test_cache_option_is_not_part_of_the_key():
    node = training.build().node("fit")
    uncached = type(node)(
        node.name,
        node.step.with_options(cache=False),
        node.inputs,
        node.params,
        node.params_json,
    )
    assert (
        compute_cache_key(uncached, {"train": TRAIN}).key
        == compute_cache_key(node, {"train": TRAIN}).key
    )


def test_step_without_outputs_or_inputs():
    @step
    def notify(message: str = "done") -> None:
        return None

    @pipeline
    def notifying():
        notify()

    key = compute_cache_key(notifying.build().node("notify"), {})
    assert key.parts["materializers"] == {}
    assert key.parts["inputs"] == {}
    assert key.parts["params"] == {"message": "done"}


def test_output_of_unknown_declared_type_is_stored_by_value():
    @step
    def anything(n: int = 1) -> object:
        return n

    @pipeline
    def p():
        anything()

    key = compute_cache_key(p.build().node("anything"), {})
    assert key.parts["materializers"] == {"out:output": "by value"}


def test_generic_output_annotation_records_its_materializer():
    @step
    def scores(n: int = 1) -> dict[str, float]:
        return {"a": 1.0}

    @pipeline
    def p():
        scores()

    key = compute_cache_key(p.build().node("scores"), {})
    assert key.parts["materializers"] == {"out:output": "json/1"}


CODE_V1 = """
import pandas as pd
from shipyard import pipeline, step

def scale(x):
    return x * {factor}

@step
def train(rows: int = 3) -> int:
    return scale(rows){extra}

@pipeline
def p():
    train()
"""


def test_key_changes_with_the_code_of_the_step_and_its_helpers(load_module, uid):
    name = f"cache_code_{uid}"
    v1 = load_module(name, CODE_V1.format(factor=2, extra=""))
    key1 = compute_cache_key(v1.p.build().node("train"), {})
    same = load_module(
        name, CODE_V1.format(factor=2, extra="  # a comment"), version="v1b"
    )
    assert compute_cache_key(same.p.build().node("train"), {}).key == key1.key

    helper = load_module(name, CODE_V1.format(factor=3, extra=""), version="v2")
    key2 = compute_cache_key(helper.p.build().node("train"), {})
    assert key2.key != key1.key
    assert changes(key2.parts, key1.parts) == ["code changed (scale)"]

    body = load_module(name, CODE_V1.format(factor=3, extra=" + 1"), version="v3")
    key3 = compute_cache_key(body.p.build().node("train"), {})
    assert changes(key3.parts, key1.parts) == ["code changed (scale, train)"]
    assert explain_miss(key3, previous_run(key1.parts)) == "code changed (scale, train)"


class Reading:
    def __init__(self, value: float) -> None:
        self.value = value


class ReadingMaterializer(Materializer):
    NAME = "test-reading"
    VERSION = 1
    TYPES = (qualified_name(Reading),)

    def save(self, value: Reading, folder: Path) -> None:
        (folder / "r.txt").write_text(str(value.value))

    def load(self, folder: Path) -> Reading:
        return Reading(float((folder / "r.txt").read_text()))


class ReadingMaterializerV2(ReadingMaterializer):
    VERSION = 2


@step
def measure(n: int = 1) -> Reading:
    return Reading(n)


@pipeline
def measuring():
    measure()


def test_key_changes_with_the_output_materializer_version(isolated_registry):
    register_materializer(ReadingMaterializer)
    node = measuring.build().node("measure")
    before = compute_cache_key(node, {})
    assert before.parts["materializers"] == {"out:output": "test-reading/1"}
    register_materializer(ReadingMaterializerV2)
    after = compute_cache_key(node, {})
    assert after.key != before.key
    assert changes(after.parts, before.parts) == [
        "materializer changed (out:output test-reading/1 -> test-reading/2)"
    ]


# -- changes and explain_miss ------------------------------------------------


def test_params_change_is_described_with_old_and_new_values():
    old, new = fit_key(lr=0.1), fit_key(lr=0.2)
    assert changes(new.parts, old.parts) == ["params changed (lr 0.1 -> 0.2)"]
    assert (
        explain_miss(new, previous_run(old.parts)) == "params changed (lr 0.1 -> 0.2)"
    )


def test_several_param_changes_are_listed():
    old, new = fit_key(lr=0.1, epochs=3), fit_key(lr=0.5, epochs=9)
    assert changes(new.parts, old.parts) == [
        "params changed (epochs 3 -> 9, lr 0.1 -> 0.5)"
    ]


def test_input_change_is_named():
    old = fit_key({"train": TRAIN})
    new = fit_key({"train": TRAIN_OTHER})
    assert changes(new.parts, old.parts) == ["input 'train' changed"]
    assert explain_miss(new, previous_run(old.parts)) == "input 'train' changed"


def test_all_changes_are_joined():
    old = fit_key({"train": TRAIN}, lr=0.1)
    new = fit_key({"train": TRAIN_OTHER}, lr=0.3)
    assert explain_miss(new, previous_run(old.parts)) == (
        "params changed (lr 0.1 -> 0.3); input 'train' changed"
    )


def test_input_materializer_change_alone_is_listed():
    old = fit_key({"train": TRAIN})
    new = fit_key({"train": artifact(TRAIN.id, version=2)})
    assert new.key != old.key
    assert changes(new.parts, old.parts) == [
        "materializer changed (in:train pandas-parquet/1 -> pandas-parquet/2)"
    ]


def test_first_run():
    key = fit_key()
    assert explain_miss(key, None) == "first run"
    assert explain_miss(key, previous_run({})) == "first run"


def test_same_parts_after_a_failure_or_without_a_hit():
    key = fit_key()
    assert (
        explain_miss(key, previous_run(key.parts, status="failed"))
        == "previous attempt failed"
    )
    assert (
        explain_miss(key, previous_run(key.parts)) == "no cached result with this key"
    )


def test_cache_format_change_says_so_and_nothing_else():
    key = fit_key()
    old = dict(key.parts, format=CACHE_FORMAT - 1, params={"lr": 9})
    assert changes(key.parts, old) == ["Shipyard's cache format changed"]


def test_long_listings_and_long_values_are_shortened():
    old = {
        "format": 1,
        "code": {f"m.f{i}": "a" for i in range(5)},
        "params": {"text": "x" * 100},
    }
    new = {
        "format": 1,
        "code": {f"m.f{i}": "b" for i in range(5)},
        "params": {"text": "y"},
    }
    found = changes(new, old)
    assert found[0] == "code changed (f0, f1, f2 and 2 more)"
    assert found[1] == "params changed (text '" + "x" * 36 + "... -> 'y')"


def test_added_and_removed_code_parts_count_as_changes():
    old = {"format": 1, "code": {"m.train": "a", "m.old_helper": "h"}}
    new = {"format": 1, "code": {"m.train": "a", "m.new_helper": "h"}}
    assert changes(new, old) == ["code changed (new_helper, old_helper)"]


def test_local_functions_keep_their_full_name():
    old = {"format": 1, "code": {"m.test.<locals>.inner": "a"}}
    new = {"format": 1, "code": {"m.test.<locals>.inner": "b"}}
    assert changes(new, old) == ["code changed (m.test.<locals>.inner)"]
