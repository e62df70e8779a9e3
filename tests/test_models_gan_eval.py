"""gan_eval's table for the demos: the numbers of several evaluations side by side (the metrics
themselves are tested with the models that use them: test_models_gan.py, test_models_acgan.py)."""

import pytest

from nanogen.models import gan_eval


def test_report_table_lines_up_the_numbers_and_marks_missing_ones(capsys):
    gan = {"fcd": 12.345, "fcd_test_halves": 0.8, "inception_score": 8.1, "class_min_share": 0.05,
           "class_max_share": 0.2}
    cgan = {**gan, "fcd": 3.2, "label_accuracy": 0.973}
    gan_eval.report_table([("gan", gan), ("cgan", cgan)])
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["model", "FCD", "floor", "IS", "min/max", "digit", "share", "label", "acc"]
    assert lines[1].split() == ["gan", "12.35", "0.80", "8.10", "5.0%", "/", "20.0%", "-"]  # no label accuracy
    assert lines[2].split()[-1] == "97.3%"
    assert len({len(line) for line in lines}) == 1                                         # right-aligned columns


def test_report_table_names_its_first_column_and_refuses_unknown_columns(capsys):
    gan_eval.report_table([("0.50", {"fcd": 1.0})], ["fcd"], first="psi")
    assert capsys.readouterr().out.splitlines() == [" psi   FCD", "0.50  1.00"]
    with pytest.raises(KeyError):
        gan_eval.report_table([("gan", {"fcd": 1.0})], ["fid"])
