#!/usr/bin/env python
# Copyright (c) mmgres contributors. All rights reserved.
import os
import os.path as osp
import platform
import shutil
import sys
import warnings

from setuptools import find_packages, setup

HERE = osp.dirname(osp.abspath(__file__))


def readme():
    with open(osp.join(HERE, 'README.md'), encoding='utf-8') as f:
        return f.read()


def get_version():
    scope = {}
    with open(osp.join(HERE, 'mmgres', 'version.py')) as f:
        exec(compile(f.read(), 'mmgres/version.py', 'exec'), scope)
    return scope['__version__']


def parse_requirements(fname):
    """Read requirement lines, skipping comments and options."""
    reqs = []
    with open(osp.join(HERE, fname)) as f:
        for line in f:
            line = line.split('#')[0].strip()
            if line and not line.startswith('-'):
                reqs.append(line)
    return reqs


def add_mim_extension():
    """Put ``tools/`` and ``configs/`` into ``mmgres/.mim``, as mmdet does.

    ``mim train mmgres CONFIG`` looks for ``mmgres/.mim/tools/train.py`` in
    the installed package. Wheels and sdists get copies; editable installs
    (``setup.py develop`` and PEP 660 ``editable_wheel``) get symlinks to the
    source tree, so ``pip install -e .`` keeps mim working.
    """
    if any(cmd in sys.argv for cmd in ('develop', 'editable_wheel')):
        mode = 'symlink'
    elif any(
        cmd in sys.argv for cmd in ('sdist', 'bdist_wheel', 'build', 'install')
    ):
        mode = 'copy'
    else:
        return

    filenames = ['tools', 'configs', 'demo', 'model-index.yml']
    mim_path = osp.join(HERE, 'mmgres', '.mim')
    os.makedirs(mim_path, exist_ok=True)
    for filename in filenames:
        src_path = osp.join(HERE, filename)
        if not osp.exists(src_path):
            continue
        tar_path = osp.join(mim_path, filename)
        if osp.isfile(tar_path) or osp.islink(tar_path):
            os.remove(tar_path)
        elif osp.isdir(tar_path):
            shutil.rmtree(tar_path)
        if mode == 'symlink' and platform.system() != 'Windows':
            os.symlink(osp.join('..', '..', filename), tar_path)
        elif mode == 'symlink' or mode == 'copy':
            if osp.isfile(src_path):
                shutil.copyfile(src_path, tar_path)
            else:
                shutil.copytree(src_path, tar_path)
        else:
            warnings.warn(f'Invalid mode {mode}', stacklevel=2)


if __name__ == '__main__':
    add_mim_extension()
    setup(
        name='mmgres',
        version=get_version(),
        description='Generalized visual grounding (GRES/GREC) on OpenMMLab',
        long_description=readme(),
        long_description_content_type='text/markdown',
        author='mmgres contributors',
        keywords='computer vision, visual grounding, referring segmentation',
        packages=find_packages(exclude=('configs', 'tools', 'demo', 'tests*')),
        include_package_data=True,
        package_data={'mmgres': ['.mim/**/*', '.mim/*']},
        python_requires='>=3.8',
        classifiers=[
            'Development Status :: 3 - Alpha',
            'License :: OSI Approved :: Apache Software License',
            'Operating System :: OS Independent',
            'Programming Language :: Python :: 3',
        ],
        license='Apache License 2.0',
        install_requires=parse_requirements('requirements/runtime.txt'),
        extras_require={
            'all': parse_requirements('requirements/optional.txt')
            + parse_requirements('requirements/tests.txt'),
            'tests': parse_requirements('requirements/tests.txt'),
            'optional': parse_requirements('requirements/optional.txt'),
            'mim': parse_requirements('requirements/mminstall.txt'),
        },
        zip_safe=False,
    )
