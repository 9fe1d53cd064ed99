"""The markdown table writer: exact syntax, alignment and number formats."""
import statistics

import pytest

from d3l.utils import markdown


def test_table_syntax_alignment_and_cells():
    text = markdown.table(['method', '20 pts', '50 pts'],
                          [['scratch', 31.25, None], ['ours', 40.0, '41.0 ± 0.5 (3)']],
                          align='-rr')
    assert text.split('\n') == ['| method | 20 pts | 50 pts |',
                                '| --- | ---: | ---: |',
                                '| scratch | 31.2 | – |',
                                '| ours | 40.0 | 41.0 ± 0.5 (3) |']


def test_single_alignment_code_and_formats():
    lines = markdown.table_lines(['a', 'b', 'c'], [[3, 0.125, None]], align='c',
                                 number='{:.2f}', missing='-')
    assert lines == ['| a | b | c |', '| :---: | :---: | :---: |', '| 3 | 0.12 | - |']
    assert markdown.table_lines(['x'], [], align='l') == ['| x |', '| :--- |']


def test_bad_shapes_are_errors():
    with pytest.raises(ValueError, match='align'):
        markdown.table(['a', 'b'], [], align='-r-')
    with pytest.raises(ValueError, match='row 0 has 1 cells for 2 columns'):
        markdown.table(['a', 'b'], [['x']])


def test_mean_std_against_statistics():
    values = [30.0, 32.5, 34.0]
    expected = f'{statistics.mean(values):.1f} ± {statistics.stdev(values):.1f} (3)'
    assert markdown.mean_std_of(values) == expected
    assert markdown.mean_std_of([12.34]) == '12.3'
    assert markdown.mean_std(1.0, 0.25, digits=2) == '1.00 ± 0.25'
    assert markdown.mean_std(-1.0) == '-1.0'
