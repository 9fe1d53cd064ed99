"""d3l.engine.cli_files: checkpoints, output folders and the resume marker,
checked before anything runs."""
import pytest
import torch

from d3l.engine.cli_errors import CLIError
from d3l.engine.cli_files import (
    check_checkpoint,
    check_out_dir,
    check_parent_folder,
    find_resume_checkpoint,
    read_checkpoint,
)


def test_read_checkpoint_names_a_missing_or_non_dict_file(tmp_path):
    with pytest.raises(CLIError, match=f'checkpoint {tmp_path}/none.pth does not exist'):
        read_checkpoint(str(tmp_path / 'none.pth'))
    listed = tmp_path / 'list.pth'
    torch.save([torch.zeros(2)], listed)
    with pytest.raises(CLIError, match=f'checkpoint {listed} holds a list, not a dict'):
        check_checkpoint(str(listed))
    good = tmp_path / 'good.pth'
    torch.save({'state_dict': {'w': torch.ones(3)}}, good)
    assert torch.equal(read_checkpoint(str(good))['state_dict']['w'], torch.ones(3))


def test_out_dir_that_is_a_file_or_below_a_file_is_an_error(tmp_path):
    afile = tmp_path / 'results'
    afile.write_text('x')
    with pytest.raises(CLIError, match=f'--out {afile} is a file, not a directory'):
        check_out_dir(str(afile))
    with pytest.raises(CLIError, match=f'--work-dir {afile}/a/b: {afile} is a file'):
        check_parent_folder(str(afile / 'a' / 'b'), '--work-dir')
    check_out_dir(None)
    check_out_dir(str(tmp_path / 'new' / 'folder'))  # can be made: fine
    assert not (tmp_path / 'new').exists()


def test_resume_checkpoint_follows_the_marker_into_a_moved_work_dir(tmp_path):
    assert find_resume_checkpoint(str(tmp_path)) is None
    (tmp_path / 'iter_8.pth').write_bytes(b'')
    # the marker names the checkpoint relative to where training ran
    (tmp_path / 'last_checkpoint').write_text('old/place/iter_8.pth\n')
    assert find_resume_checkpoint(str(tmp_path)) == str(tmp_path / 'iter_8.pth')
    (tmp_path / 'last_checkpoint').write_text(f'{tmp_path}/iter_8.pth')
    assert find_resume_checkpoint(str(tmp_path)) == f'{tmp_path}/iter_8.pth'
