"""d3l.engine.cli_errors: the tools' one-line error class and its hints."""
from d3l.engine.cli import CLIError as CLIErrorFromCli
from d3l.engine.cli_errors import CLIError, close_matches
from d3l.utils.errors import D3LError


def test_cli_error_is_the_one_the_tools_import_and_a_d3l_error():
    # run_cli turns D3LErrors into one line and exit 2: CLIError must stay one
    assert CLIErrorFromCli is CLIError and issubclass(CLIError, D3LError)


def test_close_matches_gives_the_nearest_candidate_or_nothing():
    assert close_matches('in_channel', ['channels', 'in_channels', 'num_classes']) == \
        ['in_channels']
    assert close_matches('zzz', ['in_channels', 'num_classes']) == []
    assert close_matches('3', [1, 2, 3]) == ['3']  # non-string keys compare as text
