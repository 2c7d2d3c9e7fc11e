"""Which key may sign for which party, replayed from the log's own ``key.*`` entries.

A party enters the log with a ``key.register`` statement signed by the key it registers, and
changes key with a ``key.rotate`` statement signed by its current key; from that entry on, the
old key is retired and statements signed by it are refused. Whoever replays the log (the ledger
on append, ``detente verify`` on an export) gets the same answer for every entry. Which parties
may register at all is the service's policy, taken from its configuration, not the log's.
"""

from __future__ import annotations

from dataclasses import dataclass

from detente.errors import ConflictingWriteError, InputError, VerificationError
from detente.ledger.keys import b64decode_strict, key_id
from detente.ledger.statements import KIND_KEY_REGISTER, KIND_KEY_ROTATE, SignedStatement

__all__ = ["KeyRing", "PartyKey"]


@dataclass(frozen=True, slots=True)
class PartyKey:
    """A key a party registered at entry ``since``, retired at entry ``until`` (or current)."""

    party: str
    key_id: str
    public_key: bytes
    since: int
    until: int | None = None

    def active_at(self, size: int) -> bool:
        """Whether the tree of ``size`` entries holds this key's registration but not yet its
        retirement: the keys that may co-sign that tree's head."""
        return self.since < size and (self.until is None or size <= self.until)


class KeyRing:
    """Parties' keys, current and retired, as of some log size."""

    __slots__ = ("_current", "_keys")

    def __init__(self) -> None:
        self._current: dict[str, str] = {}
        self._keys: dict[str, PartyKey] = {}

    def copy(self) -> KeyRing:
        ring = KeyRing()
        ring._current = dict(self._current)
        ring._keys = dict(self._keys)
        return ring

    def key(self, key_id_: str) -> PartyKey | None:
        """The key with this id, current or retired."""
        return self._keys.get(key_id_)

    def current(self, party: str) -> PartyKey | None:
        found = self._current.get(party)
        return None if found is None else self._keys[found]

    def parties(self) -> list[str]:
        return sorted(self._current)

    def keys_of(self, party: str) -> list[PartyKey]:
        """Every key ``party`` registered, current and retired, in order."""
        return sorted((k for k in self._keys.values() if k.party == party),
                      key=lambda k: k.since)

    def accept(self, signed: SignedStatement, index: int) -> None:
        """Check that ``signed`` may be entry ``index`` and record any key it registers.

        Raises VerificationError for a signature or key that does not verify,
        ConflictingWriteError for a key rule broken (no key, second registration, reused key),
        InputError for a malformed key body or a ``ref`` that is not an earlier entry. After
        an error the ring is not to be used further: work on a ``copy``.
        """
        self.check_signature(signed, index, self.authorize(signed, index))

    @staticmethod
    def check_signature(signed: SignedStatement, index: int, public_key: bytes) -> None:
        """VerificationError unless entry ``index`` is signed by ``public_key``."""
        st = signed.statement
        signed.verify(public_key, f"entry {index} ({st.kind} by {st.author})")

    def authorize(self, signed: SignedStatement, index: int) -> bytes:
        """Everything ``accept`` checks but the signature, which must then be checked with the
        returned key (``check_signature``); records any key the entry registers.

        Split from ``accept`` so that signatures, the bulk of the cost, can be checked in
        parallel once the keys they need are known.
        """
        st = signed.statement
        what = f"entry {index} ({st.kind} by {st.author})"
        if st.ref is not None and st.ref >= index:
            raise InputError(f"{what}: ref {st.ref} is not an earlier entry")
        if st.kind == KIND_KEY_REGISTER:
            new = self._new_key(signed, what)
            if st.author in self._current:
                raise ConflictingWriteError(
                    f"{what}: party already has key {self._current[st.author]}; rotate it")
            if key_id(new) != st.key_id:
                # Proof of possession: the key registers itself.
                raise VerificationError(
                    f"{what}: names key {st.key_id} but registers {key_id(new)}")
            self._add(st.author, new, index)
            return new
        current = self.current(st.author)
        if current is None:
            raise ConflictingWriteError(f"{what}: party {st.author!r} has no registered key")
        if st.key_id != current.key_id:
            known = self._keys.get(st.key_id)
            if known is not None and known.party == st.author:
                raise VerificationError(
                    f"{what}: key {st.key_id} was retired at entry {known.until}")
            raise VerificationError(f"{what}: key {st.key_id} is not a key of {st.author!r}")
        if st.kind == KIND_KEY_ROTATE:
            new = self._new_key(signed, what)
            self._keys[current.key_id] = PartyKey(
                current.party, current.key_id, current.public_key, current.since, index)
            self._add(st.author, new, index)
        return current.public_key

    def _new_key(self, signed: SignedStatement, what: str) -> bytes:
        body = signed.statement.body
        if set(body) != {"public_key"} or not isinstance(body["public_key"], str):
            raise InputError(f"{what}: body must be {{\"public_key\": base64}}")
        new = b64decode_strict(body["public_key"], f"{what} public_key")
        if key_id(new) in self._keys:
            raise ConflictingWriteError(f"{what}: key {key_id(new)} is already registered")
        return new

    def _add(self, party: str, public_key: bytes, index: int) -> None:
        kid = key_id(public_key)
        self._keys[kid] = PartyKey(party, kid, public_key, index)
        self._current[party] = kid
