"""Write README.md from nbs/index.ipynb (nbdev's convention: the index notebook is the README).

Markdown cells are copied as they are; code cells become ```python blocks; cells with an nbdev `hide`, `export*` or
`default_exp` directive are left out, and other `#|` directive lines are dropped. With --check nothing is written:
the exit status is 1 when README.md differs from what the notebook gives (CI runs that).
Usage: python scripts/readme.py [--check]"""
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]


def readme_text(nb_path: Path) -> str:
    nb = nbformat.read(nb_path, as_version=4)
    parts = []
    for c in nb.cells:
        lines = c.source.splitlines()
        if c.cell_type == 'code':
            dirs = {l.replace(' ', '')[2:].split()[0] if len(l.replace(' ', '')) > 2 else '' for l in lines if l.lstrip().startswith('#|')}
            if dirs & {'hide', 'export', 'exporti', 'exports', 'default_exp'}: continue
            code = '\n'.join(l for l in lines if not l.lstrip().startswith('#|')).strip('\n')
            if code: parts.append(f'```python\n{code}\n```')
        elif c.cell_type == 'markdown' and c.source.strip():
            parts.append(c.source.strip('\n'))
    return '<!-- generated from nbs/index.ipynb by scripts/readme.py: edit the notebook, not this file -->\n\n' + '\n\n'.join(parts) + '\n'


def main(argv) -> int:
    text, dest = readme_text(ROOT / 'nbs' / 'index.ipynb'), ROOT / 'README.md'
    if '--check' in argv:
        if dest.is_file() and dest.read_text() == text: return 0
        print('README.md is not what nbs/index.ipynb gives: run python scripts/readme.py and commit README.md', file=sys.stderr)
        return 1
    dest.write_text(text)
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
