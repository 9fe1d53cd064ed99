"""d3l: data-efficient 3D learning via knowledge transferred from 2D models.

Install with ``bash tools/setup_env.sh`` (it installs torch pinned first and the
OpenMMLab packages with ``--no-deps``; see docs/installation.md). A plain
``pip install -e .`` also works in an environment that already has them.
"""
import os.path as osp

from setuptools import find_packages, setup

HERE = osp.dirname(osp.abspath(__file__))


def read_requirements(name):
    requirements = []
    with open(osp.join(HERE, 'requirements', name), encoding='utf-8') as f:
        for line in f:
            line = line.split('#', 1)[0].strip()
            if line:
                requirements.append(line)
    return requirements


def read_version():
    namespace = {}
    with open(osp.join(HERE, 'd3l', 'version.py'), encoding='utf-8') as f:
        exec(f.read(), namespace)
    return namespace['__version__']


setup(
    name='d3l',
    version=read_version(),
    description='Data-efficient 3D learning via knowledge transferred from 2D models',
    long_description=open(osp.join(HERE, 'README.md'), encoding='utf-8').read(),
    long_description_content_type='text/markdown',
    license='Apache-2.0',
    python_requires='>=3.9',
    packages=find_packages(include=('d3l', 'd3l.*')),
    include_package_data=True,
    # the shipped 2D teacher (docs/model_zoo.md): weights and their config
    package_data={'d3l.model_zoo': ['*.pth', '*.py']},
    install_requires=read_requirements('torch.txt') + read_requirements('runtime.txt')
    + ['mmcv-lite>=2.0.0,<2.2.0', 'ocnn>=2.3'],
    extras_require={
        'mmseg': ['mmsegmentation==1.2.2'],
        'mmdet3d': read_requirements('mmdet3d_no_deps.txt') + read_requirements('mmdet3d.txt'),
        'spconv': ['spconv>=2.3'],
        'hf': read_requirements('hf.txt'),
        'dev': read_requirements('tests.txt'),
    },
    classifiers=[
        'Programming Language :: Python :: 3',
        'Topic :: Scientific/Engineering :: Artificial Intelligence',
    ],
)
