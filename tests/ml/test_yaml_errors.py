"""YAML pipeline errors: every problem is one ConfigError naming ``file:line``.

Each test writes a real ``pipeline.yaml`` next to a real CSV in a tmp folder
and loads it the way ``shipyard run`` does (``load_yaml_pipeline``: parse,
apply ``--set`` overrides, validate, compile against the data's header).
Line numbers are looked up in the written text, never hard-coded.
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pandas as pd
import pytest

from shipyard.client import Client
from shipyard.config.spec import PipelineSpec
from shipyard.config.yamlio import ConfigError
from shipyard.ml.compile import load_yaml_pipeline
from tests.ml.support import assert_user_error, cli, isolated

COLUMNS = ["when", "store", "price", "color", "label"]
HEAD = """\
name: shop
data: data.csv
label: label
"""
TRAIN = "train: {model: sklearn.linear_model.LogisticRegression}\n"


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder with data.csv (as the current directory)."""
    frame = pd.DataFrame(
        {
            "when": pd.date_range("2024-01-01", periods=20, freq="D").astype(str),
            "store": [i % 4 for i in range(20)],
            "price": [float(i) for i in range(20)],
            "color": ["red", "blue"] * 10,
            "label": [0, 1] * 10,
        }
    )
    frame.to_csv(tmp_path / "data.csv", index=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def write(folder: Path, text: str, name: str = "pipeline.yaml") -> str:
    (folder / name).write_text(textwrap.dedent(text), encoding="utf-8")
    return name


def line_of(text: str, needle: str, nth: int = 1) -> int:
    """1-based line of the ``nth`` line of ``text`` containing ``needle``."""
    found = [i for i, line in enumerate(textwrap.dedent(text).splitlines(), 1) if needle in line]
    assert len(found) >= nth, f"{needle!r} not in the YAML"
    return found[nth - 1]


def problems(folder: Path, text: str, overrides: tuple[str, ...] = ()) -> list[str]:
    """The problems of loading ``text`` as pipeline.yaml (it must fail)."""
    path = write(folder, text)
    with pytest.raises(ConfigError) as info:
        load_yaml_pipeline(path, overrides)
    assert info.value.problems, "a ConfigError lists its problems"
    if len(info.value.problems) == 1:
        assert info.value.message == info.value.problems[0]
    return info.value.problems


def only(found: list[str]) -> str:
    assert len(found) == 1, found
    return found[0]


# -- keys --------------------------------------------------------------------------


def test_misspelled_top_level_key_names_line_and_suggests(folder: Path) -> None:
    text = HEAD + "tran: {model: sklearn.linear_model.LogisticRegression}\n"
    found = problems(folder, text)
    line = line_of(text, "tran:")
    expected = f"pipeline.yaml:{line}: key 'tran' is not allowed here; did you mean 'train'? allowed: "
    [problem] = [p for p in found if "'tran'" in p]
    assert problem.startswith(expected), problem
    allowed = problem[len(expected) :].split(", ")
    assert allowed == [f.alias or n for n, f in PipelineSpec.model_fields.items()]
    # The missing 'train' is reported too, but the misspelling is what the user sees first.
    assert any("key 'train' is required" in p for p in found), found


def test_misspelled_nested_key_lists_the_keys_of_its_own_block(folder: Path) -> None:
    text = HEAD + textwrap.dedent(
        """\
        train:
          model: sklearn.linear_model.LogisticRegression
          parms: {C: 1.0}
        """
    )
    line = line_of(text, "parms:")
    assert only(problems(folder, text)) == (
        f"pipeline.yaml:{line}: key 'parms' is not allowed here; did you mean 'params'? "
        "allowed: model, params, task"
    )


def test_misspelled_key_in_a_list_item(folder: Path) -> None:
    text = HEAD + TRAIN + textwrap.dedent(
        """\
        steps:
          - name: clean
            runn: myfeatures:clean
        """
    )
    found = problems(folder, text)
    line = line_of(text, "runn:")
    assert (
        f"pipeline.yaml:{line}: key 'runn' is not allowed here; did you mean 'run'? "
        "allowed: name, run, after, params"
    ) in found


def test_unknown_key_without_close_match_lists_allowed_keys(folder: Path) -> None:
    text = HEAD + TRAIN + "zzzz: 1\n"
    line = line_of(text, "zzzz")
    message = only(problems(folder, text))
    assert message.startswith(f"pipeline.yaml:{line}: key 'zzzz' is not allowed here;")
    assert "did you mean" not in message
    assert "allowed: name, description, data, label" in message


# -- types and values ----------------------------------------------------------------


def test_wrong_type_names_key_path_line_and_value(folder: Path) -> None:
    text = HEAD + TRAIN + "evaluate:\n  max_slice_values: lots\n"
    line = line_of(text, "max_slice_values")
    message = only(problems(folder, text))
    assert message.startswith(f"pipeline.yaml:{line}: evaluate.max_slice_values: ")
    assert "integer" in message
    assert "(got 'lots')" in message


def test_string_where_a_list_is_expected(folder: Path) -> None:
    text = HEAD + TRAIN + "drop: price\n"
    line = line_of(text, "drop:")
    message = only(problems(folder, text))
    assert message.startswith(f"pipeline.yaml:{line}: drop: ")
    assert "list" in message and "(got 'price')" in message


def test_invalid_literal_suggests_the_closest_value(folder: Path) -> None:
    text = HEAD + TRAIN + "split: {by: tim}\n"
    line = line_of(text, "split:")
    assert only(problems(folder, text)) == (
        f"pipeline.yaml:{line}: split.by: 'tim' is not one of random, stratified, time, "
        "group; did you mean 'time'?"
    )


def test_invalid_metric_name_suggests(folder: Path) -> None:
    text = HEAD + TRAIN + "evaluate:\n  metrics: [acuracy]\n"
    line = line_of(text, "acuracy")
    message = only(problems(folder, text))
    assert message.startswith(f"pipeline.yaml:{line}: evaluate.metrics.0: 'acuracy' is not one of")
    assert message.endswith("did you mean 'accuracy'?")


def test_invalid_model_path(folder: Path) -> None:
    text = HEAD + "train: {model: LogisticRegression}\n"
    line = line_of(text, "train:")
    message = only(problems(folder, text))
    assert message.startswith(f"pipeline.yaml:{line}: train.model: model must be an import path")
    assert "'LogisticRegression'" in message


def test_bad_feature_type_in_mapping_is_one_problem(folder: Path) -> None:
    text = HEAD + TRAIN + "features: {price: numbr}\n"
    line = line_of(text, "features:")
    assert only(problems(folder, text)) == (
        f"pipeline.yaml:{line}: features.price: 'numbr' is not one of numeric, categorical, "
        "text, datetime, boolean; did you mean 'numeric'?"
    )


# -- preprocessing -------------------------------------------------------------------


def test_unknown_preprocessing_method_suggests(folder: Path) -> None:
    text = HEAD + TRAIN + "preprocess:\n  numeric: [{impute: median}, standrd]\n"
    line = line_of(text, "standrd")
    message = only(problems(folder, text))
    assert message.startswith(
        f"pipeline.yaml:{line}: preprocess.numeric.1: unknown preprocessing method "
        "'standrd'; did you mean 'standard'?"
    )
    assert "known: impute, standard, minmax" in message


def test_unknown_method_option_suggests_and_lists_options(folder: Path) -> None:
    text = HEAD + TRAIN + "preprocess:\n  columns:\n    price: [{clip: {mn: 0}}]\n"
    line = line_of(text, "clip")
    assert only(problems(folder, text)) == (
        f"pipeline.yaml:{line}: preprocess.columns.price.0: method 'clip' has no option 'mn'; "
        "did you mean 'min'? options: min, max"
    )


def test_invalid_method_option_value(folder: Path) -> None:
    text = HEAD + TRAIN + "preprocess:\n  numeric:\n    - bucketize: {bins: 1}\n"
    line = line_of(text, "bucketize")
    message = only(problems(folder, text))
    assert message.startswith(f"pipeline.yaml:{line}: preprocess.numeric.0: method 'bucketize', option 'bins'")
    assert "(got 1)" in message


def test_method_without_options_given_a_value(folder: Path) -> None:
    text = HEAD + TRAIN + "preprocess:\n  numeric: [{standard: 3}]\n"
    message = only(problems(folder, text))
    assert "method 'standard' takes no options; got 3" in message


# -- split and gate -------------------------------------------------------------------


def test_ratios_not_summing_to_one(folder: Path) -> None:
    text = HEAD + TRAIN + "split:\n  ratios: {train: 0.7, eval: 0.2, test: 0.2}\n"
    line = line_of(text, "ratios:")
    assert only(problems(folder, text)) == (
        f"pipeline.yaml:{line}: split.ratios: ratios must add up to 1; "
        "train 0.7 + eval 0.2 + test 0.2 = 1.1"
    )


def test_time_split_without_column(folder: Path) -> None:
    text = HEAD + TRAIN + "split:\n  by: time\n  ratios: {train: 0.6, eval: 0.2, test: 0.2}\n"
    line = line_of(text, "split:")
    assert only(problems(folder, text)) == f"pipeline.yaml:{line}: split: split by time needs 'column'"


def test_cutoffs_need_eval_and_test(folder: Path) -> None:
    text = HEAD + TRAIN + "split: {by: time, column: when, cutoffs: {eval: 2024-01-10}}\n"
    assert "'cutoffs' needs both eval and test" in only(problems(folder, text))


def test_gate_on_unknown_metric(folder: Path) -> None:
    text = HEAD + TRAIN + "gate:\n  rocauc: {min: 0.7}\n"
    line = line_of(text, "gate:")
    message = only(problems(folder, text))
    assert message.startswith(
        f"pipeline.yaml:{line}: gate: unknown metric 'rocauc'; did you mean 'roc_auc'? known: "
    )
    assert "accuracy" in message and "r2" in message


def test_gate_threshold_needs_a_bound(folder: Path) -> None:
    text = HEAD + TRAIN + "gate:\n  roc_auc: {}\n"
    line = line_of(text, "roc_auc")
    assert only(problems(folder, text)) == (
        f"pipeline.yaml:{line}: gate.roc_auc: a threshold needs 'min' or 'max'"
    )


# -- YAML itself ----------------------------------------------------------------------


def test_duplicate_key_names_both_lines(folder: Path) -> None:
    text = HEAD + TRAIN + "label: color\n"
    first, second = line_of(text, "label:"), line_of(text, "label:", 2)
    assert only(problems(folder, text)) == (
        f"pipeline.yaml:{second}: key 'label' appears twice (also on line {first}); keep one"
    )


def test_duplicate_nested_key(folder: Path) -> None:
    text = HEAD + "train:\n  model: sklearn.linear_model.LogisticRegression\n  model: x.Y\n"
    first, second = line_of(text, "model:"), line_of(text, "model:", 2)
    assert only(problems(folder, text)) == (
        f"pipeline.yaml:{second}: key 'model' appears twice (also on line {first}); keep one"
    )


def test_invalid_yaml_syntax_names_the_line(folder: Path) -> None:
    text = HEAD + "train: {model: sklearn.linear_model.LogisticRegression\nsplit: {by: random}\n"
    line = line_of(text, "split:")
    message = only(problems(folder, text))
    assert re.match(rf"pipeline\.yaml:{line}: invalid YAML: ", message), message


def test_tab_indentation_is_invalid_yaml_with_line(folder: Path) -> None:
    text = HEAD + TRAIN + "split:\n\tby: random\n"
    line = line_of(text, "by: random")
    message = only(problems(folder, text))
    assert message.startswith(f"pipeline.yaml:{line}: invalid YAML")


def test_file_that_is_not_a_mapping(folder: Path) -> None:
    message = only(problems(folder, "- name\n- data\n"))
    assert message == (
        "pipeline.yaml:1: the file must be a mapping of keys (name:, data:, ...), not a list"
    )


def test_missing_file(folder: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_yaml_pipeline("nothing.yaml")
    assert info.value.message == "nothing.yaml: file not found"


def test_missing_required_key(folder: Path) -> None:
    text = "name: shop\ndata: data.csv\n" + TRAIN
    found = problems(folder, text)
    assert found == ["pipeline.yaml:1: key 'label' is required"]


def test_missing_required_nested_key(folder: Path) -> None:
    text = HEAD + "train:\n  params: {C: 1.0}\n"
    line = line_of(text, "train:")
    assert only(problems(folder, text)) == f"pipeline.yaml:{line}: key 'model' is required in train"


def test_several_problems_are_all_reported_in_line_order(folder: Path) -> None:
    text = HEAD + TRAIN + "split: {by: tim}\nevaluate: {max_slice_values: 0}\ngate: {rocauc: {min: 1}}\n"
    found = problems(folder, text)
    lines = [int(re.match(r"pipeline\.yaml:(\d+):", p).group(1)) for p in found]  # type: ignore[union-attr]
    assert lines == sorted(lines) and len(found) == 3
    with pytest.raises(ConfigError) as info:
        load_yaml_pipeline("pipeline.yaml")
    assert info.value.message.startswith("3 problems:\n  pipeline.yaml:")


def test_data_glob_matching_nothing(folder: Path) -> None:
    text = "name: shop\ndata: data/none*.csv\nlabel: label\n" + TRAIN
    line = line_of(text, "data:")
    message = only(problems(folder, text))
    assert message.startswith(f"pipeline.yaml:{line}: No file matches 'data/none*.csv'")


# -- --set overrides -------------------------------------------------------------------


def test_override_is_applied_and_recorded(folder: Path) -> None:
    text = HEAD + "train: {model: sklearn.linear_model.LogisticRegression, params: {C: 1.0}}\n"
    path = write(folder, text)
    overrides = ["train.params.max_iter=50", "split.seed=7", "evaluate.slices=[color]"]
    pipeline, config = load_yaml_pipeline(path, overrides)
    assert config["overrides"] == overrides
    assert config["kind"] == "yaml" and config["file"] == path
    assert config["spec"]["train"]["params"] == {"C": 1.0, "max_iter": 50}
    assert config["spec"]["split"] == {"seed": 7}
    train = pipeline.node("train")
    assert train.params["params"] == {"C": 1.0, "max_iter": 50, "random_state": 0}
    assert pipeline.node("split").params["seed"] == 7
    assert pipeline.node("evaluate").params["slices"] == ["color"]
    # The file itself is unchanged.
    assert (folder / path).read_text() == text


def test_a_model_that_takes_a_seed_gets_random_state_0_unless_set(folder: Path) -> None:
    path = write(folder, HEAD + TRAIN)
    pipeline, _ = load_yaml_pipeline(path, [])
    assert pipeline.node("train").params["params"] == {"random_state": 0}
    pipeline, _ = load_yaml_pipeline(path, ["train.params.random_state=7"])
    assert pipeline.node("train").params["params"] == {"random_state": 7}
    unseeded = write(folder, HEAD + "train: {model: sklearn.linear_model.LinearRegression}\n")
    pipeline, _ = load_yaml_pipeline(unseeded, [])
    assert pipeline.node("train").params["params"] == {}


def test_later_override_wins(folder: Path) -> None:
    path = write(folder, HEAD + TRAIN)
    pipeline, config = load_yaml_pipeline(path, ["train.params.C=1", "train.params.C=0.5"])
    assert pipeline.node("train").params["params"] == {"C": 0.5, "random_state": 0}
    assert config["overrides"] == ["train.params.C=1", "train.params.C=0.5"]


def test_invalid_value_given_by_override_is_reported_as_set(folder: Path) -> None:
    found = problems(folder, HEAD + TRAIN, ("split.by=tim",))
    assert only(found) == (
        "--set: split.by: 'tim' is not one of random, stratified, time, group; did you mean 'time'?"
    )


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        ("label.x=1", "--set 'label.x=1': label is not a mapping"),
        ("train.params", "--set 'train.params': expected KEY.PATH=VALUE, e.g. --set train.params.max_iter=300"),
        ("=3", "--set '=3': expected KEY.PATH=VALUE"),
        ("train..C=3", "--set 'train..C=3': expected KEY.PATH=VALUE"),
    ],
)
def test_bad_override_path(folder: Path, item: str, expected: str) -> None:
    message = only(problems(folder, HEAD + TRAIN, (item,)))
    assert message.startswith(expected), message


def test_misspelled_key_in_override_is_reported_as_set(folder: Path) -> None:
    message = only(problems(folder, HEAD + TRAIN, ("train.parms.max_iter=5",)))
    assert "did you mean 'params'?" in message
    assert message.startswith("--set"), message


def test_missing_column_given_by_override_is_reported_as_set(folder: Path) -> None:
    message = only(problems(folder, HEAD + TRAIN, ("label=nope",)))
    assert "column 'nope' (label) is not in data.csv" in message
    assert message.startswith("--set"), message


# -- columns missing from the data --------------------------------------------------------


@pytest.mark.parametrize(
    ("block", "needle", "column", "use"),
    [
        ("label: nope\n", "label: nope", "nope", "label"),
        ("split: {by: time, column: wehn}\n", "split:", "wehn", "split.column"),
        ("split:\n  by: group\n  column: shop\n", "column: shop", "shop", "split.column"),
        ("drop:\n  - price\n  - prize\n", "- prize", "prize", "drop"),
        ("evaluate:\n  slices: [colour]\n", "slices:", "colour", "evaluate.slices"),
        ("preprocess:\n  columns:\n    prices: [standard]\n", "prices:", "prices", "preprocess.columns"),
        ("features: [price, colour]\n", "features:", "colour", "features"),
        ("features:\n  price: numeric\n  colour: categorical\n", "colour:", "colour", "features"),
    ],
)
def test_column_named_in_yaml_but_not_in_data(
    folder: Path, block: str, needle: str, column: str, use: str
) -> None:
    head = HEAD if not block.startswith("label:") else "name: shop\ndata: data.csv\n"
    text = head + TRAIN + block
    line = line_of(text, needle)
    assert only(problems(folder, text)) == (
        f"pipeline.yaml:{line}: column {column!r} ({use}) is not in data.csv; "
        f"available: {', '.join(COLUMNS)}"
    )


def test_every_missing_column_is_reported(folder: Path) -> None:
    text = HEAD + TRAIN + "drop: [prize]\nevaluate: {slices: [colour]}\n"
    found = problems(folder, text)
    assert len(found) == 2
    assert any("'prize' (drop)" in p for p in found)
    assert any("'colour' (evaluate.slices)" in p for p in found)


def test_missing_column_behind_a_custom_step_fails_the_split_naming_it(
    folder: Path,
) -> None:
    """With custom steps the columns are only known at run time; the split step checks them."""
    (folder / "shopfeatures.py").write_text(
        "import pandas as pd\n\n\ndef double(frame: pd.DataFrame) -> pd.DataFrame:\n"
        "    return frame.assign(price2=frame['price'] * 2)\n"
    )
    text = HEAD + TRAIN + "evaluate: {slices: [colour]}\nsteps:\n  - {name: double, run: shopfeatures:double}\n"
    path = write(folder, text)
    load_yaml_pipeline(path)  # compiles: the custom step may add the column
    with isolated(folder), Client(folder, create=True) as client:
        result = client.run(path)
    assert result.status == "failed" and result.error_step == "split"
    assert result.steps["double"].status == "completed"
    assert "'colour' (evaluate.slices)" in (result.error or "")
    assert "Available: when, store, price, color, label, price2" in (result.error or "")


# -- the command line -----------------------------------------------------------------


def test_cli_run_of_invalid_yaml_exits_2_with_one_message(folder: Path) -> None:
    text = HEAD + "tran: {model: sklearn.linear_model.LogisticRegression}\n"
    write(folder, text, "bad.yaml")
    line = line_of(text, "tran:")
    result = cli("run", "bad.yaml", cwd=folder)
    flat = assert_user_error(
        result,
        "Invalid configuration:",
        f"bad.yaml:{line}: key 'tran' is not allowed here; did you mean 'train'?",
    )
    assert "key 'train' is required" in flat


def test_cli_run_with_missing_column_exits_2(folder: Path) -> None:
    text = HEAD + TRAIN + "evaluate: {slices: [colour]}\n"
    write(folder, text, "bad.yaml")
    line = line_of(text, "slices")
    result = cli("run", "bad.yaml", "--set", "train.params.C=2", cwd=folder)
    assert_user_error(
        result,
        f"bad.yaml:{line}: column 'colour' (evaluate.slices) is not in data.csv; available: "
        + ", ".join(COLUMNS),
    )
