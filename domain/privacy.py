"""Which event fields identify a person: what is encrypted at rest, and what an erasure makes unreadable.

A field is personal when it names or reaches one person: a participant's
display name, a contact's name, e-mail address and phone number. Each belongs
to the *subject* whose stream holds the event (the participant or the contact),
and is sealed under that subject's own key (``infra.crypto``).

Deliberately not personal:

- a contact's ``organization`` and ``role``: an employer's name and a job
  title, shared by many people; once the name, e-mail address and phone are
  erased, "a hiring manager at Acme" points at nobody in particular;
- employers: organisations, not people;
- the profile's reportable fields (age band, gender, race/ethnicity, veteran,
  release date) and everything else reports count: erasing a person must leave
  every figure as it was;
- free text (``entry_voided.reason``, titles, positions, cohorts): it must not
  carry names (docs/security.md, "Privacy").

The domain never needs the personal values themselves (no rule and no report
reads them), so the folds are given ``masked`` data: every personal value
replaced by ``SEALED`` whether it is stored sealed, erased or (recorded before
encryption at rest) in plain text.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any, Final, Literal, TypeAlias, get_args

SubjectKind: TypeAlias = Literal["participant", "contact"]
"""The streams whose events carry personal fields: each is one person, the subject."""

FieldPath: TypeAlias = tuple[str, ...]
"""Where a field sits in an event's ``data``: ``("profile", "display_name")``."""

SUBJECT_KINDS: Final[tuple[SubjectKind, ...]] = get_args(SubjectKind)

PERSONAL_FIELDS: Final[Mapping[str, tuple[FieldPath, ...]]] = {
    "participant_enrolled": (("profile", "display_name"),),
    "contact_added": (("name",), ("email",), ("phone",)),
    "contact_updated": (("name",), ("email",), ("phone",)),
}
"""The personal fields of each event type that has any (types are unique to a stream kind)."""

SEALED: Final = "[sealed]"
"""What the domain's folds see in place of a personal value."""

ERASED: Final = "[erased]"
"""What a reader sees in place of a personal value once its subject is erased."""


def path_name(path: FieldPath) -> str:
    """A field path as error messages and encryption contexts spell it: ``profile.display_name``."""
    return ".".join(path)


def personal_values(event_type: str, data: Mapping[str, Any]) -> Iterator[tuple[FieldPath, str]]:
    """The personal fields present in one event's ``data`` (absent and null ones are skipped)."""
    for path in PERSONAL_FIELDS.get(event_type, ()):
        value: Any = data
        for part in path:
            value = value.get(part) if isinstance(value, Mapping) else None
        if isinstance(value, str):
            yield path, value


def replace_personal(
    event_type: str, data: Mapping[str, Any], replace: Callable[[FieldPath, str], str]
) -> dict[str, Any]:
    """A copy of ``data`` with each personal value ``v`` at ``path`` replaced by ``replace(path, v)``.

    Only the dictionaries along a personal field's path are copied; ``data`` is left as it was.
    """
    copy = dict(data)
    for path, value in personal_values(event_type, data):
        parent = copy
        for part in path[:-1]:
            parent[part] = dict(parent[part])
            parent = parent[part]
        parent[path[-1]] = replace(path, value)
    return copy


def masked(event_type: str, data: Mapping[str, Any]) -> dict[str, Any]:
    """``data`` with every personal value replaced by ``SEALED``: what the rules and the reports fold."""
    return replace_personal(event_type, data, lambda _path, _value: SEALED)
