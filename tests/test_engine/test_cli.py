"""d3l.engine.cli: the tools' entry plumbing (one-line errors, exit 2) and
the names it re-exports from the cli_* modules."""
import argparse
import os

import pytest

import d3l.engine.cli as cli
from d3l.engine.cli import CLIError, parse_with_launcher, run_cli


def test_every_public_name_of_the_tools_is_importable_from_cli():
    for name in cli.__all__:
        assert getattr(cli, name) is not None, name


@pytest.mark.parametrize('error,line', [
    (CLIError('cfg.py: bad key\nsecond line'), 'error: cfg.py: bad key'),
    (FileNotFoundError('no such file x.pth'), 'error: no such file x.pth'),
    (KeyError('"Foo is not in the model registry"'), 'error: "Foo is not in the model registry"'),
    (TypeError("Foo.__init__() got an unexpected keyword argument 'bar'"),
     "error: Foo.__init__() got an unexpected keyword argument 'bar' (check that component"),
])
def test_user_errors_are_one_line_and_exit_2(capsys, monkeypatch, error, line):
    monkeypatch.delenv('D3L_DEBUG', raising=False)

    def main():
        raise error
    with pytest.raises(SystemExit) as exit_info:
        run_cli(main)
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and err.startswith(line) and len(err.splitlines()) == 1


@pytest.mark.parametrize('error', [KeyError('plain'), TypeError('unsupported operand'),
                                   ValueError('bug')])
def test_other_errors_keep_their_traceback(monkeypatch, error):
    monkeypatch.delenv('D3L_DEBUG', raising=False)

    def main():
        raise error
    with pytest.raises(type(error)):
        run_cli(main)


def test_parse_with_launcher_adds_the_shared_options(monkeypatch):
    # setenv first so that the LOCAL_RANK the tool exports is undone after the test
    monkeypatch.setenv('LOCAL_RANK', '0')
    monkeypatch.delenv('LOCAL_RANK')
    parser = argparse.ArgumentParser()
    parser.add_argument('config')
    args = parse_with_launcher(parser, ['c.py', '--cfg-options', 'a.b=1', 'c=[1,2]',
                                        '--launcher', 'pytorch', '--local_rank', '3'])
    assert args.cfg_options == {'a.b': 1, 'c': [1, 2]} and args.launcher == 'pytorch'
    assert os.environ['LOCAL_RANK'] == '3'
