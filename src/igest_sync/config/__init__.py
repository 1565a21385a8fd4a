"""The configuration: ``settings`` (the dataclasses; load, validate and write the TOML file),
``validation`` (the sections and keys), ``values`` (converting and describing one value) and
``paths`` (where the files live).

``from igest_sync.config import Config`` is the public way in: every public name of
``settings`` is importable from here.
"""

from igest_sync.config.settings import *
