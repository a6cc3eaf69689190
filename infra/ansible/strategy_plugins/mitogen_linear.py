# The `mitogen_linear` strategy (ansible.cfg), taken from the mitogen package pinned in
# toolchain/versions.env and installed in the Ansible venv (scripts/toolchain/ensure-ansible.sh).
# Mitogen ships its plugins inside the package; pointing strategy_plugins at site-packages would
# tie ansible.cfg to one venv path, so this file only imports them under their real module names
# (the way Mitogen's own strategy files do, so its types are not loaded twice).
# Why Mitogen: docs/adr/0013-ansible-with-mitogen.md. ANSIBLE_STRATEGY=linear runs without it.
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ansible_mitogen.loaders
import ansible_mitogen.strategy

Base = ansible_mitogen.loaders.strategy_loader.get("linear", class_only=True)


class StrategyModule(ansible_mitogen.strategy.StrategyMixin, Base):
    pass
