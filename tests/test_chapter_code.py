"""benchmarks/chapter_code.py: the science/bookkeeping split of a chapter's visible code."""
from conftest import load_script

cc = load_script("benchmarks/chapter_code.py")


def test_a_multiline_bookkeeping_statement_counts_whole_and_comments_do_not_count():
    cell = ("%matplotlib inline\n"
            "# a comment\n"
            "x = train_students(seeds)\n"
            "\n"
            "H.judge('soft_beats_hard',\n"
            "        a=x, b=y)\n"
            "metrics['n'] = len(x)\n"
            "plt.plot(x)\n")
    assert cc.split_cell(cell) == (2, 3)


def test_a_cell_that_is_not_python_counts_as_science():
    assert cc.split_cell("def broken(:\n    pass\n") == (2, 0)


def test_every_chapter_is_measured():
    rows = [cc.chapter(p) for p in sorted((cc.ROOT / "notebooks").glob("*.ipynb"))]
    assert rows and all(r["science"] > 0 and r["bookkeeping"] > 0 for r in rows)
