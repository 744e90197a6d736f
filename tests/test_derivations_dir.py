"""derivations/: one problem file per worked example; committed generated files must not be stale."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from symprop.derivation import COMMAND, OUTPUTS, main, regenerate, render_problem

DERIVATIONS = Path(__file__).resolve().parent.parent / "derivations"


def test_committed_derivations_are_up_to_date():
    stale = regenerate(DERIVATIONS, check=True)
    assert not stale, f"stale generated files {[p.name for p in stale]}; run `{COMMAND}` and commit the result"


def test_every_problem_file_has_all_its_generated_files():
    for problem in sorted(DERIVATIONS.glob("*.toml")):
        stem = problem.with_suffix("")
        for suffix in OUTPUTS:
            assert stem.with_name(stem.name + suffix).is_file(), f"{problem.name}: missing {suffix}"


def test_readme_names_the_regenerating_command():
    readme = (DERIVATIONS / "README.md").read_text(encoding="utf-8")
    assert COMMAND in readme
    for problem in sorted(DERIVATIONS.glob("*.toml")):
        assert problem.name in readme, f"README.md does not describe {problem.name}"


@pytest.fixture()
def workdir(tmp_path):
    shutil.copy(DERIVATIONS / "seed002_softplus_ssr.toml", tmp_path)
    return tmp_path


def test_regenerate_writes_once_and_is_deterministic(workdir):
    written = regenerate(workdir)
    assert sorted(p.name for p in written) == sorted(f"seed002_softplus_ssr{s}" for s in OUTPUTS)
    first = {p.name: p.read_text(encoding="utf-8") for p in written}
    assert regenerate(workdir) == []  # same input, same text: nothing to write
    assert {p.name: p.read_text(encoding="utf-8") for p in written} == first
    assert first["seed002_softplus_ssr.md"] == (DERIVATIONS / "seed002_softplus_ssr.md").read_text(encoding="utf-8")


def test_check_reports_edited_and_missing_files_without_writing(workdir):
    regenerate(workdir)
    md = workdir / "seed002_softplus_ssr.md"
    md.write_text(md.read_text(encoding="utf-8").replace("-15.7", "-15.8"), encoding="utf-8")
    (workdir / "seed002_softplus_ssr.tex").unlink()
    stale = regenerate(workdir, check=True)
    assert sorted(p.name for p in stale) == ["seed002_softplus_ssr.md", "seed002_softplus_ssr.tex"]
    assert "-15.8" in md.read_text(encoding="utf-8") and not (workdir / "seed002_softplus_ssr.tex").exists()


def test_changing_the_problem_makes_the_outputs_stale(workdir):
    regenerate(workdir)
    toml = workdir / "seed002_softplus_ssr.toml"
    toml.write_text(toml.read_text(encoding="utf-8").replace("lr = 0.1", "lr = 0.2"), encoding="utf-8")
    stale = regenerate(workdir, check=True)
    assert sorted(p.name[len("seed002_softplus_ssr") :] for p in stale) == sorted(s for s in OUTPUTS if s != ".svg")


def test_generated_files_say_how_they_were_made():
    texts = render_problem(DERIVATIONS / "seed000_linear_mse.toml")
    for path, text in texts.items():
        assert COMMAND in " ".join(text.splitlines()[:2]), path.name  # an SVG's XML declaration comes first


def test_command_line(workdir, capsys):
    assert main([str(workdir), "--check"]) == 1
    assert "stale" in capsys.readouterr().out
    assert main([str(workdir)]) == 0
    assert main([str(workdir), "--check"]) == 0
    with pytest.raises(SystemExit) as exc:
        main([str(workdir / "nowhere")])
    assert exc.value.code == 2
    assert "not a directory of problem files" in capsys.readouterr().err


def test_module_entry_point_runs(workdir):
    result = subprocess.run([sys.executable, "-m", "symprop.derivation", str(workdir)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("wrote ") == len(OUTPUTS)


def test_empty_directory_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="no problem files"):
        regenerate(tmp_path)
