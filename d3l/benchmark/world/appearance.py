"""Materials, textures and shading of the synthetic world.

Colours are deliberately ambiguous: most materials (white paint, light wood,
grey fabric, ...) are shared by several classes, so neither colour nor a
height alone identifies a class. As in real rooms, each part role has
typical materials (drawn more often: the first of its list) and a typical
surface finish (quilted bedding, woven upholstery, pleated curtains, brushed
metal, wood grain, tiles), which a 2D model can learn to recognise. A
surface's colour is

    base (material mean + per-part jitter) x texture(position) x shade(normal)

where the texture depends on the 3D position, and the shading on the
surface orientation (two fixed directional lights + ambient), identically
for rendered pixels and sampled 3D points, so that 2D and 3D see the same
world.
"""
from typing import Dict, Sequence, Tuple

import numpy as np

# name: (mean RGB in [0, 1], per-part jitter std, texture kind, texture amplitude)
MATERIALS: Dict[str, Tuple[Tuple[float, float, float], float, str, float]] = {
    'white': ((0.90, 0.90, 0.88), 0.03, 'grain', 0.02),
    'offwhite': ((0.86, 0.82, 0.74), 0.03, 'grain', 0.03),
    'beige': ((0.78, 0.70, 0.56), 0.04, 'grain', 0.04),
    'lightgrey': ((0.70, 0.70, 0.70), 0.04, 'grain', 0.03),
    'grey': ((0.50, 0.50, 0.52), 0.04, 'grain', 0.04),
    'darkgrey': ((0.30, 0.30, 0.32), 0.03, 'grain', 0.05),
    'black': ((0.13, 0.13, 0.14), 0.02, 'grain', 0.05),
    'lightwood': ((0.76, 0.60, 0.42), 0.05, 'stripes', 0.08),
    'wood': ((0.55, 0.38, 0.22), 0.05, 'stripes', 0.10),
    'darkwood': ((0.33, 0.22, 0.14), 0.04, 'stripes', 0.10),
    'blue': ((0.25, 0.35, 0.60), 0.06, 'grain', 0.05),
    'lightblue': ((0.66, 0.75, 0.85), 0.04, 'grain', 0.03),
    'green': ((0.30, 0.50, 0.32), 0.06, 'grain', 0.05),
    'sage': ((0.62, 0.70, 0.58), 0.04, 'grain', 0.03),
    'red': ((0.62, 0.20, 0.18), 0.06, 'grain', 0.05),
    'mustard': ((0.80, 0.65, 0.25), 0.05, 'grain', 0.05),
    'brown': ((0.45, 0.30, 0.20), 0.05, 'grain', 0.05),
    'cardboard': ((0.66, 0.51, 0.33), 0.04, 'grain', 0.04),
    'steel': ((0.72, 0.73, 0.75), 0.03, 'stripes', 0.04),
    'glass': ((0.70, 0.82, 0.92), 0.04, 'grain', 0.02),
    'mirror': ((0.80, 0.84, 0.86), 0.02, 'grain', 0.01),
    'tile': ((0.84, 0.84, 0.82), 0.05, 'checker', 0.07),
    'vivid': ((0.5, 0.5, 0.5), 0.0, 'grain', 0.05),  # a random saturated colour
}
TEXTURES = ('grain', 'stripes', 'checker', 'quilt', 'pleats', 'weave', 'brushed')

#: material choices of each part role, typical first (shared materials make
#: colour ambiguous; the order makes some more likely for some roles)
ROLE_MATERIALS: Dict[str, Sequence[str]] = {
    'wall': ('white', 'offwhite', 'beige', 'lightgrey', 'lightblue', 'sage'),
    'floor': ('lightwood', 'wood', 'tile', 'grey', 'darkwood', 'beige', 'darkgrey'),
    'ceiling': ('white', 'offwhite'),
    'rug': ('red', 'blue', 'beige', 'green', 'mustard', 'grey', 'darkgrey'),
    'frame': ('wood', 'darkwood', 'white', 'lightwood', 'grey', 'black'),
    'bedding': ('white', 'lightblue', 'offwhite', 'blue', 'grey', 'beige', 'sage', 'mustard',
                'red'),
    'pillow': ('white', 'offwhite', 'blue', 'grey', 'mustard', 'beige'),
    'upholstery': ('grey', 'blue', 'green', 'darkgrey', 'brown', 'beige', 'red', 'mustard'),
    'chair': ('wood', 'black', 'lightwood', 'darkwood', 'white', 'grey', 'red', 'blue'),
    'leg': ('steel', 'black', 'lightwood', 'wood', 'darkwood', 'white'),
    'top': ('lightwood', 'white', 'wood', 'darkwood', 'black', 'grey'),
    'furniture': ('white', 'lightwood', 'offwhite', 'wood', 'grey', 'darkwood', 'black'),
    'book': ('vivid',),
    'door': ('wood', 'white', 'lightwood', 'darkwood', 'offwhite', 'grey'),
    'window_frame': ('white', 'offwhite', 'darkgrey', 'wood'),
    'glass': ('glass',),
    'curtain': ('beige', 'offwhite', 'blue', 'grey', 'green', 'red', 'mustard', 'lightblue'),
    'picture': ('vivid',),
    'mirror': ('mirror',),
    'lamp': ('white', 'offwhite', 'black', 'beige', 'steel'),
    'countertop': ('darkgrey', 'white', 'black', 'lightgrey', 'wood', 'beige'),
    'appliance': ('white', 'steel', 'lightgrey', 'black'),
    'porcelain': ('white', 'offwhite'),
    'tv': ('black',),
    'bin': ('grey', 'black', 'white', 'steel', 'blue', 'green'),
    'box': ('cardboard', 'beige', 'white', 'brown'),
}
# ratio of the draw probabilities of consecutive materials in a role's list
_TYPICAL_DECAY = 0.6

#: surface finish of a role, overriding the material's texture
#: (texture name, amplitude); roles not listed keep the material's texture
ROLE_TEXTURES: Dict[str, Tuple[str, float]] = {
    'bedding': ('quilt', 0.10), 'pillow': ('weave', 0.08), 'upholstery': ('weave', 0.10),
    'curtain': ('pleats', 0.16), 'rug': ('weave', 0.12), 'appliance': ('brushed', 0.05),
    'leg': ('brushed', 0.05), 'countertop': ('grain', 0.10),
}

# two fixed directional lights (world frame, z up) + ambient
_LIGHTS = np.array([[0.40, 0.25, 0.88], [-0.60, 0.80, 0.10]])
_LIGHTS /= np.linalg.norm(_LIGHTS, axis=1, keepdims=True)
_LIGHT_WEIGHTS = np.array([0.30, 0.15])
_AMBIENT = 0.55


def sample_material(role: str, rng: np.random.Generator) -> Tuple[np.ndarray, int, float]:
    """A material for a part role: (RGB (3,) in [0, 1], texture id, amplitude)."""
    if role not in ROLE_MATERIALS:
        raise KeyError(f'unknown material role {role!r}; choose from {sorted(ROLE_MATERIALS)}')
    choices = ROLE_MATERIALS[role]
    weights = _TYPICAL_DECAY ** np.arange(len(choices))
    name = choices[int(rng.choice(len(choices), p=weights / weights.sum()))]
    mean, jitter, texture, amplitude = MATERIALS[name]
    if name == 'vivid':
        hue = rng.random()
        rgb = np.array([_hue_channel(hue + 1 / 3), _hue_channel(hue), _hue_channel(hue - 1 / 3)])
        rgb = 0.15 + 0.75 * rgb * rng.uniform(0.6, 1.0)
    else:
        rgb = np.asarray(mean) + rng.normal(0, jitter, 3)
    if role in ROLE_TEXTURES and texture != 'stripes':  # wood keeps its grain
        texture, amplitude = ROLE_TEXTURES[role]
    return np.clip(rgb, 0.02, 0.98), TEXTURES.index(texture), amplitude


def _hue_channel(h: float) -> float:
    h = h % 1.0
    return float(np.clip(abs(h * 6 - 3) - 1, 0, 1))


def shade(normals: np.ndarray) -> np.ndarray:
    """(N,) brightness factor of surfaces with these unit normals (world frame)."""
    return _AMBIENT + np.maximum(normals @ _LIGHTS.T, 0) @ _LIGHT_WEIGHTS


def _stripes(x, y, z, phase):
    return (np.sin(38.0 * (x + 0.7 * y + 0.3 * z) + phase) + 0.5 * np.sin(
        91.0 * (x - 0.4 * y + z) + 2 * phase)) / 1.5


def _checker(x, y, z, phase):
    return np.sign(np.sin(np.pi * x / 0.3 + phase) * np.sin(np.pi * y / 0.3 + phase))


def _quilt(x, y, z, phase):
    # quilting: 20 cm cells on any face (the three axis pairs multiplied)
    return np.cos(np.pi * x / 0.1) * np.cos(np.pi * y / 0.1) + np.cos(np.pi * z / 0.1) * (
        np.cos(np.pi * x / 0.1) + np.cos(np.pi * y / 0.1)) / 2


def _pleats(x, y, z, phase):
    # vertical folds of a curtain: 12 cm period along the wall
    return np.sin(2 * np.pi * (x + y) / 0.12 + phase)


def _weave(x, y, z, phase):
    # woven fabric: a 5 cm cross pattern
    return np.sin(2 * np.pi * (x + z) / 0.05) * np.sin(2 * np.pi * (y - z) / 0.05)


def _brushed(x, y, z, phase):
    return np.sin(2 * np.pi * z / 0.03 + phase)


def _grain(x, y, z, phase):
    # deterministic high-frequency 'grain' from a hash of the position
    grain = np.sin(12.9898 * x * 97 + 78.233 * y * 89 + 37.719 * z * 83 + phase) * 43758.5453
    return (grain - np.floor(grain)) * 2 - 1


# TEXTURES order; any other id is grain
_PATTERNS = (_grain, _stripes, _checker, _quilt, _pleats, _weave, _brushed)


def texture(points: np.ndarray, kind: np.ndarray, amplitude: np.ndarray,
            phase: np.ndarray) -> np.ndarray:
    """(N,) multiplicative texture at world points; ``kind``/``amplitude``/
    ``phase`` are per point (from the primitive hit or sampled). Each
    pattern is evaluated on its own points only (elementwise, so the values
    are those of evaluating every pattern everywhere)."""
    x, y, z = points[:, 0], points[:, 1], points[:, 2]
    kind = np.asarray(kind)
    value = np.empty(len(points))
    rest = np.ones(len(points), bool)
    for k in range(1, len(_PATTERNS)):
        sel = np.flatnonzero(kind == k)
        rest[sel] = False
        if len(sel):
            value[sel] = _PATTERNS[k](x[sel], y[sel], z[sel], phase[sel])
    sel = np.flatnonzero(rest)
    if len(sel):
        value[sel] = _grain(x[sel], y[sel], z[sel], phase[sel])
    return 1.0 + amplitude * value


def surface_colors(base_rgb: np.ndarray, points: np.ndarray, normals: np.ndarray,
                   kind: np.ndarray, amplitude: np.ndarray, phase: np.ndarray,
                   noise: float = 0.0, rng: np.random.Generator = None) -> np.ndarray:
    """(N, 3) float colours in [0, 1] of surface points with per-point
    material ``base_rgb`` (N, 3): texture x shading (+ Gaussian noise)."""
    rgb = base_rgb * (texture(points, kind, amplitude, phase) * shade(normals))[:, None]
    if noise > 0:
        rgb = rgb + rng.normal(0, noise, rgb.shape)
    return np.clip(rgb, 0.0, 1.0)
