"""The committed results are what the README says: every results/<preset>/summary.json parses and carries its
provenance, and every number of the README's results table equals the one in the summary it names."""
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SUMMARIES = sorted(f for f in (ROOT / 'results').glob('*/summary.json') if (f.parent / 'sweep.json').is_file())   # sweeps (not the fidelity report)
TABLES = {'Table 1': ('t1', 'frac'), 'Table 2': ('t2', 'ratio'), 'curve': ('lc', 'share')}


def _summary(preset: str) -> dict:
    return json.loads((ROOT / 'results' / preset / 'summary.json').read_text())


def _gain_text(g: dict) -> str:
    return f"{100 * g['value']:+.1f} [{100 * g['lo']:+.1f} to {100 * g['hi']:+.1f}]"


def readme_rows() -> list[list[str]]:
    "The README results table rows: | preset | what | arm | x | ours | paper |, for presets with a results folder."
    rows = []
    for line in (ROOT / 'README.md').read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip('|').split('|')]
        if line.startswith('|') and len(cells) == 6 and (ROOT / 'results' / cells[0].strip('`') / 'sweep.json').is_file():
            rows.append([cells[0].strip('`'), *cells[1:]])
    return rows


def test_results_exist_and_parse():
    assert SUMMARIES, 'no results/*/summary.json committed'
    for f in SUMMARIES:
        s = json.loads(f.read_text())
        assert s['preset'] == f.parent.name
        assert s['runs']['done'] >= 1 and s['seconds'] > 0
        assert s['data']['kind'] == 'full', f'{f}: results for readers come from the full PTB-XL'
        assert s['code']['commit'] or any((c.get('code') or {}).get('commit') for c in s['invocations'])
        for name in ('summary.ipynb', 'summary.html', 'sweep.json', *s['figures']):
            assert (f.parent / name).is_file(), f'{f.parent / name} is named in {f} but not committed'
        assert not list(f.parent.glob('**/*.pt')) and not list(f.parent.glob('**/*.npz')), 'no checkpoints or predictions'


def test_readme_numbers_equal_the_summaries():
    rows = readme_rows()
    assert rows, 'the README has no results table row naming a results/<preset>'
    checked = 0
    for preset, what, arm, x, ours, paper in rows:
        s = _summary(preset)
        if what == 'wall time':
            assert ours == f"{s['seconds'] / 60:.0f} min", (preset, ours); checked += 1; continue
        if what.endswith(' gain'):
            t, key = TABLES[what.removesuffix(' gain')]
            pre, against = arm.split(' vs ')
            g = next(g for g in s['gains'] if g['table'] == t and g['arm'] == pre and g['against'] == against
                     and f"{key} {g['x']:g}" == x)
            assert ours == _gain_text(g), (preset, what, arm, x, ours, _gain_text(g)); checked += 1; continue
        t, key = TABLES[what]
        cell = next(c for c in s['tables'][t] if c['arm'] == arm and f"{key} {c[key]:g}" == x)
        assert ours == cell['auc']['text'], (preset, what, arm, x, ours, cell['auc']['text'])
        assert paper == ('' if cell['paper'] is None else f"{cell['paper']:g}"), (preset, what, arm, x, paper)
        checked += 1
    assert checked == len(rows)


@pytest.mark.parametrize('f', SUMMARIES, ids=[f.parent.name for f in SUMMARIES])
def test_every_finished_table_cell_of_a_summary_is_in_the_readme(f):
    s, rows = json.loads(f.read_text()), readme_rows()
    shown = {(r[1], r[2], r[3]) for r in rows if r[0] == f.parent.name}
    for what, (t, key) in TABLES.items():
        for c in s['tables'].get(t, []):
            assert (what, c['arm'], f"{key} {c[key]:g}") in shown, f'README lacks {f.parent.name} {what} {c["arm"]} {key} {c[key]:g}'


def test_readme_fidelity_numbers_equal_the_fidelity_summary():
    f = ROOT / 'results' / 'fidelity' / 'summary.json'
    assert f.is_file(), 'the executed fidelity report is not committed under results/fidelity'
    s = json.loads(f.read_text())
    assert s['data'] == 'full' and s['split'] == 'heldout' and s['code']['commit']
    rows = [[c.strip() for c in line.strip().strip('|').split('|')] for line in (ROOT / 'README.md').read_text().splitlines()
            if line.startswith('| `fidelity` |')]
    assert rows, 'the README has no fidelity row'
    for _, what, cls, _, ours, floor in rows:
        assert what == 'feature C2ST AUROC'
        c = s['c2st'][cls]
        assert ours == f"{c['synth']['auc']:.2f} [{c['synth']['ci_low']:.2f}–{c['synth']['ci_high']:.2f}]", (cls, ours)
        assert floor == f"real-vs-real {c['floor']['auc']:.2f}", (cls, floor)
