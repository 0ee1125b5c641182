"""The packet filter of a simulated network namespace: iptables' tables, chains and rules.

Imitates what ``iptables`` (x_tables) keeps per network namespace and how it walks a
chain, for the subset of rules a container runtime writes (``runtime/netspec.py``):

* tables ``filter`` (INPUT, FORWARD, OUTPUT) and ``nat`` (PREROUTING, INPUT, OUTPUT,
  POSTROUTING), every built-in chain with the policy ACCEPT;
* ``add`` appends a rule at the end of its chain unless the same rule is there
  (``iptables -C`` then ``-A``), creating a user chain named by the rule or by its
  ``-j`` on first use (``-N``); ``delete`` removes it (``-D``);
* matches ``-i``/``-o`` (an interface name; ``name+`` matches a prefix), ``-s``/``-d``
  (an address or CIDR), each negated by a ``!`` before it; a match this model does not
  know makes the rule match nothing;
* targets ACCEPT, DROP and REJECT end the walk; a user chain's name jumps to it;
  RETURN, or the end of a user chain, goes back to the rule after the jump; the end
  of a built-in chain applies its policy; other targets (LOG, MASQUERADE in
  ``filter``) do not end the walk.

``firewall_rules`` lists the rules as ``iptables -S`` would: built-in chains first, in
the kernel's order, then user chains by name.
"""

from __future__ import annotations

import errno
import ipaddress

from ..base import FirewallRule
from ..netlink import NetworkError

BUILTIN = {"filter": ("INPUT", "FORWARD", "OUTPUT"),
           "nat": ("PREROUTING", "INPUT", "OUTPUT", "POSTROUTING")}
TARGETS = {"ACCEPT", "DROP", "RETURN", "REJECT", "MASQUERADE", "DNAT", "SNAT", "LOG"}
_ENDS = {"ACCEPT", "DROP", "REJECT"}
_MAX_DEPTH = 32


class Netfilter:
    """One namespace's tables: chain name → list of rules (each its argument tuple)."""

    def __init__(self) -> None:
        self.tables: dict[str, dict[str, list[tuple[str, ...]]]] = \
            {t: {c: [] for c in chains} for t, chains in BUILTIN.items()}

    def _table(self, name: str) -> dict[str, list[tuple[str, ...]]]:
        table = self.tables.get(name)
        if table is None:
            raise NetworkError(errno.EINVAL, f"iptables: can't initialize iptables table `{name}': "
                                             "Table does not exist")
        return table

    def apply(self, rule: FirewallRule, add: bool = True) -> None:
        """Append ``rule`` (unless present), or delete it (if present)."""
        table = self._table(rule.table)
        chain = table.get(rule.chain)
        present = chain is not None and rule.args in chain
        if not add:
            if present:
                chain.remove(rule.args)
            return
        if present:
            return
        target = _target(rule.args)
        for name in (rule.chain, target):
            if name and name not in table and name not in TARGETS:
                if name in _all_builtin():
                    raise NetworkError(errno.EINVAL, "iptables: No chain/target/match by that name.")
                table[name] = []
        table[rule.chain].append(tuple(rule.args))

    def rules(self, table: str) -> list[FirewallRule]:
        chains = self._table(table)
        order = [c for c in BUILTIN[table]] + sorted(c for c in chains if c not in BUILTIN[table])
        return [FirewallRule(table, c, args) for c in order for args in chains[c]]

    # -- a packet's way through a chain ---------------------------------------------------
    def verdict(self, chain: str, in_name: str, out_name: str, src, dst) -> tuple[str, str]:
        """ACCEPT, DROP or REJECT for a packet in the filter table's ``chain``, and the rule
        that decided it (``policy ACCEPT`` when none did)."""
        packet = (in_name, out_name, src, dst)
        decided = _walk(self.tables["filter"], chain, packet, 0)
        if decided is None:
            return "ACCEPT", f"policy ACCEPT of {chain}"
        return decided

    def masquerades(self, in_name: str, out_name: str, src, dst) -> str | None:
        """The nat POSTROUTING rule that masquerades this packet, if one does."""
        for args in self.tables["nat"]["POSTROUTING"]:
            if _matches(args, (in_name, out_name, src, dst)):
                return _text("POSTROUTING", args) if _target(args) == "MASQUERADE" else None
        return None


def _all_builtin() -> set[str]:
    return {c for chains in BUILTIN.values() for c in chains}


def _target(args: tuple[str, ...]) -> str:
    for flag in ("-j", "--jump"):
        if flag in args[:-1]:
            return args[args.index(flag) + 1]
    return ""


def _text(chain: str, args: tuple[str, ...]) -> str:
    return " ".join(("-A", chain) + tuple(args))


def _walk(table, chain: str, packet, depth: int) -> tuple[str, str] | None:
    if depth > _MAX_DEPTH:
        return "DROP", f"(chain loop at {chain})"
    for args in table.get(chain, ()):
        if not _matches(args, packet):
            continue
        target = _target(args)
        if target in _ENDS:
            return target, _text(chain, args)
        if target == "RETURN":
            return None
        if target in table:
            decided = _walk(table, target, packet, depth + 1)
            if decided is not None:
                return decided
    return None


def _matches(args: tuple[str, ...], packet) -> bool:
    in_name, out_name, src, dst = packet
    negate = False
    i = 0
    while i < len(args):
        flag = args[i]
        if flag == "!":
            negate = True
            i += 1
            continue
        if i + 1 >= len(args):
            return False
        value = args[i + 1]
        if flag in ("-j", "--jump"):
            i += 2
            continue
        if flag in ("-i", "--in-interface"):
            hit = _iface(value, in_name)
        elif flag in ("-o", "--out-interface"):
            hit = _iface(value, out_name)
        elif flag in ("-s", "--source", "-d", "--destination"):
            address = src if flag in ("-s", "--source") else dst
            try:
                hit = address is not None and ipaddress.IPv4Address(address) in \
                    ipaddress.IPv4Network(value, strict=False)
            except ValueError:
                return False
        else:
            return False   # a match the model does not know
        if hit == negate:
            return False
        negate = False
        i += 2
    return True


def _iface(pattern: str, name: str | None) -> bool:
    if name is None:
        return False
    if pattern.endswith("+"):
        return name.startswith(pattern[:-1])
    return name == pattern
