"""``python -m airflow_provider_neetocal.examples``: the one command that puts the example DAGs in a DAGs folder."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from airflow_provider_neetocal import examples

REPO_EXAMPLES = Path(__file__).resolve().parents[2] / "example_dags"


def test_lists_every_example_dag_and_the_csvs_they_read():
    names = [str(name) for name in examples.example_files()]
    data = [f"data/{path.name}" for path in REPO_EXAMPLES.glob("data/*.csv")]

    assert names == sorted([*(path.name for path in REPO_EXAMPLES.glob("neetocal_*.py")), *data])
    expected = {"neetocal_pipeline.py", "data/attendees.csv", "neetocal_daily_sync.py", "data/onboarding_calls.csv"}
    assert expected <= set(names)


def test_copy_writes_the_files_unchanged_into_the_dags_folder(tmp_path: Path):
    written = examples.copy_examples(tmp_path / "dags")

    assert sorted(path.relative_to(tmp_path / "dags") for path in written) == examples.example_files()
    for path in written:
        assert path.read_bytes() == (REPO_EXAMPLES / path.relative_to(tmp_path / "dags")).read_bytes()


def test_copy_refuses_to_overwrite_and_writes_nothing_then(tmp_path: Path):
    (tmp_path / "neetocal_pipeline.py").write_text("# my edited copy\n")

    with pytest.raises(FileExistsError, match=r"add --force to overwrite") as refused:
        examples.copy_examples(tmp_path)

    assert str(tmp_path / "neetocal_pipeline.py") in str(refused.value).splitlines()[1:][0]

    assert sorted(p.name for p in tmp_path.iterdir()) == ["neetocal_pipeline.py"]
    assert (tmp_path / "neetocal_pipeline.py").read_text() == "# my edited copy\n"


def test_force_overwrites(tmp_path: Path):
    (tmp_path / "neetocal_pipeline.py").write_text("# old\n")

    examples.copy_examples(tmp_path, force=True)

    assert (tmp_path / "neetocal_pipeline.py").read_bytes() == (REPO_EXAMPLES / "neetocal_pipeline.py").read_bytes()


def test_a_file_as_destination_is_refused_naming_it(tmp_path: Path):
    target = tmp_path / "not-a-folder"
    target.write_text("")

    with pytest.raises(NotADirectoryError, match="not-a-folder is not a directory"):
        examples.copy_examples(target)


def test_the_command_line_copies_and_then_refuses_with_exit_1(tmp_path: Path):
    command = [sys.executable, "-m", "airflow_provider_neetocal.examples", "copy", str(tmp_path)]

    first = subprocess.run(command, capture_output=True, text=True, check=False, timeout=60)
    second = subprocess.run(command, capture_output=True, text=True, check=False, timeout=60)

    assert first.returncode == 0, first.stderr
    assert f"{len(examples.example_files())} files copied into {tmp_path}" in first.stdout
    assert (tmp_path / "data" / "attendees.csv").is_file()
    assert second.returncode == 1
    assert second.stderr.startswith("error: Not copying:")
    assert "--force" in second.stderr


def test_the_command_line_refuses_an_empty_destination_saying_so(tmp_path: Path):
    command = [sys.executable, "-m", "airflow_provider_neetocal.examples", "copy", ""]

    done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=60, cwd=tmp_path)

    assert done.returncode != 0
    assert done.stderr.startswith("error: no DAGs folder given"), done.stderr
    assert len(done.stderr.splitlines()[0]) <= 120
    assert list(tmp_path.iterdir()) == []


def test_the_command_imports_no_airflow():
    probe = "import sys, airflow_provider_neetocal.examples; print('airflow' in sys.modules)"

    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60)

    assert done.stdout.strip() == "False"
