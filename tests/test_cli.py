"""Every `ember` subcommand is wired to a module whose main() answers --help."""
import pytest

from sims import cli


@pytest.mark.parametrize("name", sorted(cli.SUBCOMMANDS))
def test_subcommand_help(name, capsys):
    with pytest.raises(SystemExit) as e:
        cli.main([name, "--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert "usage" in out.lower()
