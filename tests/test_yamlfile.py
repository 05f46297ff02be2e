"""One wording for every SpotShield YAML file: the trainer config, spotshield.yaml and study grids."""
import pytest

from spotshield.errors import SpotShieldError
from spotshield.yamlfile import read_mapping


@pytest.mark.parametrize("text,needle", [
    ("a: [1\nb: 2\n", "is not valid YAML at line"),
    ("- a\n- b\n", "must hold a mapping of keys (e.g. 'epochs: 3'), not a list"),
    ("just words\n", "not a str"),
])
def test_bad_content_names_the_file_and_the_problem(tmp_path, text, needle):
    f = tmp_path / "x.yaml"
    f.write_text(text)
    with pytest.raises(SpotShieldError) as e:
        read_mapping(f, "grid file")
    assert str(e.value).startswith(f"grid file {f} ") and needle in str(e.value)


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(SpotShieldError, match="settings file .*nope.yaml not found"):
        read_mapping(tmp_path / "nope.yaml", "settings file")
    with pytest.raises(SpotShieldError, match="is a folder"):
        read_mapping(tmp_path, "settings file")


def test_empty_file_is_an_empty_mapping(tmp_path):
    f = tmp_path / "e.yaml"
    f.write_text("# only a comment\n")
    assert read_mapping(f, "config file") == {}
    f.write_text("epochs: 3\nstrategies: {naive: {every_steps: 5}}\n")
    assert read_mapping(f, "config file") == {"epochs": 3, "strategies": {"naive": {"every_steps": 5}}}


def test_every_reader_uses_the_same_wording(tmp_path):
    from spotshield.analysis.grid import load_grid
    from spotshield.project import SETTINGS_FILE as FILE_NAME
    from spotshield.settings import file_settings
    from spotshield.trainer.config import load_config

    bad = tmp_path / FILE_NAME
    bad.write_text("a: [1\n")
    messages = []
    for call in (lambda: load_grid(bad), lambda: file_settings(tmp_path),
                 lambda: load_config([bad], {"store": "file:///tmp/x"})):
        with pytest.raises(SpotShieldError) as e:
            call()
        messages.append(str(e.value).split(" ", 2)[-1])  # drop "grid file" / "settings file" / "config file"
    assert len(set(messages)) == 1, messages
