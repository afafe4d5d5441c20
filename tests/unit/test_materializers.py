"""Materializers: round trips of the built-in types, refusals, pickle opt-in, user types."""

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from shipyard import Materializer, register_materializer
from shipyard.engine.artifacts import describe_value, load_value, save_value
from shipyard.errors import MaterializerError, UnsafeArtifactError
from shipyard.materializers import (
    get_materializer,
    materializer_for_type,
    materializer_for_value,
    registered,
)
from shipyard.materializers.base import qualified_name, type_names


def roundtrip(
    value: Any, folder: Path, *, allow_pickle: bool = False
) -> tuple[type[Materializer], Any]:
    cls = materializer_for_value(value, allow_pickle=allow_pickle)
    folder.mkdir(parents=True, exist_ok=True)
    cls().save(value, folder)
    return cls, cls().load(folder)


# -- pandas and pyarrow ------------------------------------------------------


def test_dataframe_roundtrip_keeps_dtypes_nan_and_index(tmp_path):
    df = pd.DataFrame(
        {
            "n": [1, 2, 3],
            "text": ["a", None, "ccc"],
            "cat": pd.Categorical(["x", "y", "x"]),
            "f": [1.5, np.nan, -2.0],
            "flag": [True, False, True],
        },
        index=pd.Index([10, 20, 30], name="row"),
    )
    cls, back = roundtrip(df, tmp_path / "df")
    assert cls.NAME == "pandas-parquet" and cls.tag() == "pandas-parquet/1"
    assert (tmp_path / "df" / "data.parquet").is_file()
    pd.testing.assert_frame_equal(back, df)
    assert isinstance(back["cat"].dtype, pd.CategoricalDtype)
    assert math.isnan(back["f"].iloc[1])
    assert back["text"].isna().tolist() == [False, True, False]


def test_dataframe_with_non_string_column_names_is_refused(tmp_path):
    df = pd.DataFrame({0: [1], 1: [2]})
    cls = materializer_for_value(df)
    with pytest.raises(
        MaterializerError, match=r"column names must be strings.*found \[0, 1\]"
    ) as exc:
        cls().save(df, tmp_path)
    assert "df.columns = df.columns.astype(str)" in (exc.value.hint or "")


def test_arrow_table_roundtrip(tmp_path):
    table = pa.table({"a": [1, 2, None], "b": ["x", "y", "z"], "c": [0.5, 1.5, 2.5]})
    cls, back = roundtrip(table, tmp_path / "t")
    assert cls.NAME == "arrow-parquet"
    assert isinstance(back, pa.Table)
    assert back.equals(table)


# -- numpy -------------------------------------------------------------------


@pytest.mark.parametrize(
    "array",
    [
        np.array([1, -2, 3], dtype=np.int8),
        np.arange(6, dtype=np.int64),
        np.array([0.5, np.nan, np.inf], dtype=np.float32),
        np.linspace(0, 1, 12).reshape(3, 4),
        np.array([True, False]),
        np.array([1 + 2j, 3 - 1j]),
        np.array(["a", "bcd"]),
        np.array(["2024-01-01", "2024-02-29"], dtype="datetime64[D]"),
        np.zeros((0, 3)),
    ],
    ids=[
        "int8",
        "int64",
        "float32-nan-inf",
        "2d-float",
        "bool",
        "complex",
        "str",
        "datetime",
        "empty-2d",
    ],
)
def test_numpy_roundtrip(array, tmp_path):
    cls, back = roundtrip(array, tmp_path / "a")
    assert cls.NAME == "npy"
    assert back.dtype == array.dtype
    assert back.shape == array.shape
    np.testing.assert_array_equal(back, array)


def test_numpy_object_array_is_refused_without_pickle():
    arr = np.array([{"a": 1}, None], dtype=object)
    with pytest.raises(
        MaterializerError,
        match=r"numpy array of dtype object holds Python objects and would need pickle; "
        r"convert it to a numeric or string dtype",
    ):
        materializer_for_value(arr)
    assert materializer_for_value(arr, allow_pickle=True).NAME == "pickle"


# -- JSON --------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        {"a": 1, "b": [1, 2.5, "x"], "c": {"d": None, "e": True}},
        [1, "two", 3.0, None, False, [], {}],
        "naïve ☃ text",
        0,
        -12345678901234567890,
        2.75,
        True,
        None,
        {"deep": {"er": {"est": [[[1]]]}}},
    ],
    ids=["dict", "list", "str", "int", "bigint", "float", "bool", "none", "nested"],
)
def test_json_roundtrip(value, tmp_path):
    cls, back = roundtrip(value, tmp_path / "j")
    assert cls.NAME == "json"
    assert back == value
    assert type(back) is type(value)


def test_json_tuple_comes_back_as_list(tmp_path):
    _, back = roundtrip((1, ("a", "b"), {"t": (True,)}), tmp_path / "j")
    assert back == [1, ["a", "b"], {"t": [True]}]


def test_json_keeps_nan_and_infinity(tmp_path):
    _, back = roundtrip({"nan": math.nan, "inf": -math.inf}, tmp_path / "j")
    assert math.isnan(back["nan"])
    assert back["inf"] == -math.inf


def test_dict_with_non_string_keys_is_refused():
    with pytest.raises(
        MaterializerError, match=r"A dict is stored as JSON, so every key must be a str"
    ):
        materializer_for_value({1: "a"})


def test_list_holding_a_non_json_value_is_refused():
    with pytest.raises(
        MaterializerError, match=r"A list is stored as JSON.*register a materializer"
    ):
        materializer_for_value([1, object()])


def test_too_deep_nesting_is_refused():
    value: list = []
    for _ in range(150):
        value = [value]
    with pytest.raises(MaterializerError, match=r"A list is stored as JSON"):
        materializer_for_value(value)


# -- bytes and paths ---------------------------------------------------------


def test_bytes_roundtrip(tmp_path):
    blob = bytes(range(256))
    cls, back = roundtrip(blob, tmp_path / "b")
    assert cls.NAME == "bytes"
    assert back == blob


def test_bytearray_loads_as_bytes(tmp_path):
    _, back = roundtrip(bytearray(b"\x00\x01abc"), tmp_path / "b")
    assert back == b"\x00\x01abc"
    assert type(back) is bytes


def test_path_to_a_file_roundtrip(tmp_path):
    source = tmp_path / "src" / "model.bin"
    source.parent.mkdir()
    source.write_bytes(b"weights")
    cls, back = roundtrip(source, tmp_path / "stored")
    assert cls.NAME == "path"
    assert back != source
    assert back.name == "model.bin"
    assert back.read_bytes() == b"weights"
    assert tmp_path / "stored" in back.parents


def test_path_to_a_folder_roundtrip(tmp_path):
    source = tmp_path / "src"
    (source / "sub").mkdir(parents=True)
    (source / "a.txt").write_text("A")
    (source / "sub" / "b.txt").write_text("B")
    _, back = roundtrip(source, tmp_path / "stored")
    assert back.is_dir()
    files = sorted(
        p.relative_to(back).as_posix() for p in back.rglob("*") if p.is_file()
    )
    assert files == ["a.txt", "sub/b.txt"]
    assert (back / "sub" / "b.txt").read_text() == "B"


def test_path_that_does_not_exist_is_refused(tmp_path):
    missing = tmp_path / "nope"
    cls = materializer_for_value(missing)
    with pytest.raises(
        MaterializerError, match=r"Path '.*nope' is neither a file nor a folder"
    ):
        cls().save(missing, tmp_path / "stored")


# -- unknown types and pickle ------------------------------------------------


class Opaque:
    """A user class no materializer handles (module level, so it pickles)."""

    def __init__(self, value: int) -> None:
        self.value = value


def test_unknown_type_error_names_the_type_and_the_ways_out():
    with pytest.raises(MaterializerError) as exc:
        materializer_for_value(Opaque(1))
    message = str(exc.value)
    assert f"No materializer stores values of type '{__name__}.Opaque'" in message
    assert "Supported: pandas.DataFrame" in message
    assert "@shipyard.register_materializer" in message
    assert "@step(allow_pickle=True)" in message


def test_pickle_is_used_only_when_allowed(tmp_path):
    cls, back = roundtrip(Opaque(7), tmp_path / "p", allow_pickle=True)
    assert cls.NAME == "pickle"
    assert isinstance(back, Opaque) and back.value == 7


def test_allow_pickle_does_not_replace_safe_materializers():
    assert materializer_for_value({"a": 1}, allow_pickle=True).NAME == "json"
    assert materializer_for_value(np.arange(2), allow_pickle=True).NAME == "npy"
    assert materializer_for_value({1: "a"}, allow_pickle=True).NAME == "pickle"


def test_loading_a_pickle_artifact_needs_allow_pickle(artifact_store):
    record = save_value(Opaque(3), artifact_store, allow_pickle=True, producer="sr1")
    assert record.materializer == "pickle"
    assert record.data_type == f"{__name__}.Opaque"
    assert record.producer == "sr1"
    with pytest.raises(
        UnsafeArtifactError, match=r"is a pickle; loading it runs code from the file"
    ) as exc:
        load_value(record, artifact_store)
    assert "allow_pickle=True" in (exc.value.hint or "")
    assert load_value(record, artifact_store, allow_pickle=True).value == 3


def test_save_value_without_pickle_raises_for_unknown_type(artifact_store):
    with pytest.raises(MaterializerError, match="No materializer stores values"):
        save_value(Opaque(1), artifact_store)
    staging = Path(artifact_store.root, ".tmp")
    assert list(staging.iterdir()) == []


def test_save_and_load_value_through_the_artifact_store(artifact_store):
    df = pd.DataFrame({"a": [1, 2]})
    record = save_value(df, artifact_store)
    assert record.materializer == "pandas-parquet"
    assert record.materializer_version == 1
    assert record.format == "pandas-parquet/1"
    assert record.data_type == qualified_name(pd.DataFrame)
    assert record.files == 1 and record.size > 0
    assert record.uri.startswith("file://")
    pd.testing.assert_frame_equal(load_value(record, artifact_store), df)
    again = save_value(df.copy(), artifact_store)
    assert again.id == record.id


# -- describe ----------------------------------------------------------------


def test_describe_dataframe(artifact_store):
    df = pd.DataFrame(
        {"a": [1, 2, 3, 4, 5, 6, 7], "b": list("abcdefg")}, index=range(10, 17)
    )
    summary = describe_value(save_value(df, artifact_store), artifact_store)
    assert summary["rows"] == 7
    assert summary["columns"] == {"a": "int64", "b": summary["columns"]["b"]}
    assert "string" in summary["columns"]["b"]
    assert len(summary["head"]) == 5
    assert summary["head"][0]["a"] == 1 and summary["head"][0]["b"] == "a"


def test_describe_dataframe_hides_the_stored_index_column(tmp_path):
    df = pd.DataFrame({"a": [1, 2]}, index=[5, 9])
    cls, _ = roundtrip(df, tmp_path / "df")
    assert list(cls().describe(tmp_path / "df")["columns"]) == ["a"]


def test_describe_numpy_json_bytes_path(tmp_path):
    cls, _ = roundtrip(np.zeros((2, 3), dtype=np.float32), tmp_path / "n")
    assert cls().describe(tmp_path / "n") == {"shape": [2, 3], "dtype": "float32"}

    cls, _ = roundtrip({"a": [1, 2], "b": "x"}, tmp_path / "j")
    summary = cls().describe(tmp_path / "j")
    assert summary == {
        "json_type": "dict",
        "length": 2,
        "preview": '{"a":[1,2],"b":"x"}',
    }

    cls, _ = roundtrip(math.inf, tmp_path / "inf")
    assert cls().describe(tmp_path / "inf") == {"json_type": "float", "preview": "inf"}

    cls, _ = roundtrip(b"\xff\x00" * 40, tmp_path / "b")
    summary = cls().describe(tmp_path / "b")
    assert summary == {"bytes": 80, "head_hex": "ff00" * 16}

    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "x.txt").write_text("12345")
    (folder / "y.txt").write_text("1")
    cls, _ = roundtrip(folder, tmp_path / "p")
    assert cls().describe(tmp_path / "p") == {
        "kind": "folder",
        "files": 2,
        "bytes": 6,
        "first": ["x.txt", "y.txt"],
    }
    cls, _ = roundtrip(folder / "x.txt", tmp_path / "pf")
    assert cls().describe(tmp_path / "pf") == {
        "kind": "file",
        "name": "x.txt",
        "bytes": 5,
    }


def test_describe_long_json_preview_is_cut(tmp_path):
    cls, _ = roundtrip(["x" * 100] * 50, tmp_path / "j")
    summary = cls().describe(tmp_path / "j")
    assert summary["length"] == 50
    assert len(summary["preview"]) == 2003 and summary["preview"].endswith("...")


# -- lookup by type ----------------------------------------------------------


def test_materializer_for_type():
    assert materializer_for_type(pd.DataFrame).NAME == "pandas-parquet"
    assert materializer_for_type(pa.Table).NAME == "arrow-parquet"
    assert materializer_for_type(np.ndarray).NAME == "npy"
    assert materializer_for_type(dict).NAME == "json"
    assert materializer_for_type(bool).NAME == "json"
    assert materializer_for_type(bytes).NAME == "bytes"
    assert materializer_for_type(Path).NAME == "path"
    assert materializer_for_type(Opaque) is None  # pickle is never the declared choice
    assert materializer_for_type("pd.DataFrame") is None


def test_type_names_include_the_top_level_package_form():
    names = type_names(pa.Table)
    assert names[:2] == ["pyarrow.lib.Table", "pyarrow.Table"]
    assert names[-1] == "builtins.object"
    assert type_names(LabCelsius)[:1] == [qualified_name(LabCelsius)]
    assert qualified_name(Celsius) in type_names(LabCelsius)


def test_get_materializer_by_name_and_unknown_name():
    assert get_materializer("json").tag() == "json/1"
    with pytest.raises(
        MaterializerError,
        match=r"No materializer named 'nope' is registered \(known: \[",
    ):
        get_materializer("nope")


def test_builtins_are_registered():
    assert {
        "json",
        "bytes",
        "path",
        "pickle",
        "pandas-parquet",
        "arrow-parquet",
        "npy",
    } <= set(registered())


# -- user materializers ------------------------------------------------------


class Celsius:
    def __init__(self, degrees: float) -> None:
        self.degrees = degrees


class PreciseCelsius(Celsius):
    pass


class LabCelsius(PreciseCelsius):
    pass


class CelsiusMaterializer(Materializer):
    NAME = "test-celsius"
    VERSION = 1
    TYPES = (qualified_name(Celsius),)

    def save(self, value: Celsius, folder: Path) -> None:
        (folder / "c.txt").write_text(repr(value.degrees))

    def load(self, folder: Path) -> Celsius:
        return Celsius(float((folder / "c.txt").read_text()))

    def describe(self, folder: Path) -> dict[str, Any]:
        return {"degrees": float((folder / "c.txt").read_text())}


class PreciseCelsiusMaterializer(CelsiusMaterializer):
    NAME = "test-precise-celsius"
    TYPES = (qualified_name(PreciseCelsius),)

    def load(self, folder: Path) -> PreciseCelsius:
        return PreciseCelsius(float((folder / "c.txt").read_text()))


def test_registered_materializer_is_used_for_its_type(isolated_registry, tmp_path):
    with pytest.raises(MaterializerError):
        materializer_for_value(Celsius(1.0))
    assert register_materializer(CelsiusMaterializer) is CelsiusMaterializer
    cls, back = roundtrip(Celsius(21.5), tmp_path / "c")
    assert cls is CelsiusMaterializer
    assert isinstance(back, Celsius) and back.degrees == 21.5
    assert materializer_for_type(Celsius) is CelsiusMaterializer
    assert get_materializer("test-celsius") is CelsiusMaterializer


def test_subclass_value_picks_the_most_specific_materializer(isolated_registry):
    register_materializer(PreciseCelsiusMaterializer)
    register_materializer(CelsiusMaterializer)
    assert materializer_for_value(Celsius(1)) is CelsiusMaterializer
    assert materializer_for_value(PreciseCelsius(1)) is PreciseCelsiusMaterializer
    assert materializer_for_value(LabCelsius(1)) is PreciseCelsiusMaterializer
    assert materializer_for_type(LabCelsius) is PreciseCelsiusMaterializer


def test_subclass_of_a_builtin_type_can_get_its_own_materializer(isolated_registry):
    class Settings(dict):
        pass

    class SettingsMaterializer(CelsiusMaterializer):
        NAME = "test-settings"
        TYPES = (qualified_name(Settings),)

    assert materializer_for_value(Settings(a=1)).NAME == "json"
    register_materializer(SettingsMaterializer)
    assert materializer_for_value(Settings(a=1)) is SettingsMaterializer
    assert materializer_for_value({"a": 1}).NAME == "json"


def test_priority_orders_materializers_of_one_type_and_can_save_refines(
    isolated_registry,
):
    class Picky(CelsiusMaterializer):
        NAME = "test-picky"
        PRIORITY = 1

        @classmethod
        def can_save(cls, value: Any) -> bool:
            return value.degrees >= 0

    register_materializer(CelsiusMaterializer)
    register_materializer(Picky)
    assert materializer_for_value(Celsius(5)) is Picky
    assert materializer_for_value(Celsius(-5)) is CelsiusMaterializer


def test_registering_the_same_name_replaces_the_earlier_class(isolated_registry):
    class CelsiusV2(CelsiusMaterializer):
        VERSION = 2

    register_materializer(CelsiusMaterializer)
    register_materializer(CelsiusV2)
    assert get_materializer("test-celsius") is CelsiusV2
    assert materializer_for_value(Celsius(1)) is CelsiusV2
    assert materializer_for_type(Celsius).tag() == "test-celsius/2"


def test_isolated_registry_restores_the_builtins():
    assert "test-celsius" not in registered()
    with pytest.raises(MaterializerError):
        materializer_for_value(Celsius(1))


def test_register_materializer_rejects_bad_classes(isolated_registry):
    with pytest.raises(
        MaterializerError, match=r"expects a Materializer subclass, got <class 'int'>"
    ):
        register_materializer(int)  # type: ignore[arg-type]

    class NoTypes(Materializer):
        NAME = "test-no-types"

        def save(self, value: Any, folder: Path) -> None: ...

        def load(self, folder: Path) -> Any: ...

    with pytest.raises(
        MaterializerError, match=r"Materializer .*NoTypes must set NAME and TYPES"
    ):
        register_materializer(NoTypes)


def test_user_materializer_describe_through_the_store(
    isolated_registry, artifact_store
):
    register_materializer(CelsiusMaterializer)
    record = save_value(Celsius(3.5), artifact_store)
    assert record.format == "test-celsius/1"
    assert describe_value(record, artifact_store) == {"degrees": 3.5}
    assert load_value(record, artifact_store).degrees == 3.5
