# Copyright (c) mmgres contributors. All rights reserved.
import datetime
import warnings

from mmengine import DefaultScope


def register_all_modules(init_default_scope: bool = True) -> None:
    """Import every module of mmgres, mmdet and mmseg that configs may name.

    mmengine does not import a parent registry's ``locations`` by itself, so
    mmdet's and mmseg's modules are imported here too.

    Args:
        init_default_scope (bool): Set the default scope to ``mmgres``.
            Defaults to True.
    """
    from mmdet.utils import register_all_modules as _mmdet_register
    from mmseg.utils import register_all_modules as _mmseg_register

    _mmdet_register(init_default_scope=False)
    _mmseg_register(init_default_scope=False)

    import mmgres.datasets  # noqa: F401
    import mmgres.engine  # noqa: F401
    import mmgres.evaluation  # noqa: F401
    import mmgres.models  # noqa: F401
    import mmgres.visualization  # noqa: F401

    if init_default_scope:
        never_created = (
            DefaultScope.get_current_instance() is None
            or not DefaultScope.check_instance_created('mmgres')
        )
        if never_created:
            DefaultScope.get_instance('mmgres', scope_name='mmgres')
            return
        current_scope = DefaultScope.get_current_instance()
        if current_scope.scope_name != 'mmgres':
            warnings.warn(
                'The current default scope '
                f'"{current_scope.scope_name}" is not "mmgres", '
                '`register_all_modules` will force the current '
                'default scope to be "mmgres".',
                stacklevel=2,
            )
            new_instance_name = f'mmgres-{datetime.datetime.now()}'
            DefaultScope.get_instance(new_instance_name, scope_name='mmgres')
