"""ItemTable rows <-> Profile: where each BYOK setting lives and how it is decoded.

Reading turns the rows fetched by `store.get_items(ROW_KEYS, ROW_PREFIXES)`
into a Profile. Writing turns wanted field values into RowWrites: key rows in
the form this Cursor uses, and the settings blob patched in place.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Mapping

from ..errors import DecryptFailed, InputError, NotACursorDatabase, SafeStorageUnavailable, printable
from ..key_shapes import OK, UNKNOWN, check_format, looks_placeholder
from ..model import (
    EXTRA_PREFIX,
    PLAINTEXT,
    RAW,
    RAW_WORDS,
    SELECTED_PREFIX,
    SETTINGS_JSON,
    UNDECRYPTABLE,
    KeyForm,
    Profile,
    Secret,
    StoredKey,
)
from ..providers import registry
from ..safestorage import oscrypt
from ..versions import FACT_ROWS, recorded_version
from . import blob_patch
from .store import RowWrite

if TYPE_CHECKING:
    from ..safestorage.backends import SafeStorage

JsonObject = dict[str, Any]  # a parsed JSON object (the settings blob)
# What one field asks of the writer: {row: new text or None to delete}, and [(blob path, new value)].
FieldWrites = tuple[dict[str, str | None], list[tuple[tuple[str, ...], Any]]]

BLOB_KEY = "src.vs.platform.reactivestorage.browser.reactiveStorageServiceImpl.persistentStorage.applicationUser"
SECRET_PREFIX = "secret://cursorAuth/"
PLAIN_PREFIX = "cursorAuth/"
ANY_SECRET_PREFIX = "secret://"
# MCP servers' OAuth tokens: `mcpOAuth.secret.<base64 name>`, the same Buffer JSON form and machine key as a
# `secret://` row. Never a provider key, never listed, exported, changed or deleted; but, like every encrypted
# row (extension `secret://` rows included), a row that decrypts proves the machine secret.
MCP_SECRET_PREFIX = "mcpOAuth.secret."
ENCRYPTED_ROW_PREFIXES = (ANY_SECRET_PREFIX, MCP_SECRET_PREFIX)

# Cursor's own login, account and MCP rows: never a provider key. They are never
# read as "extra" secrets, never exported, and a bundle that names one is refused.
# Compared without regard to case, so `AccessToken` cannot slip past either.
CURSOR_OWN_NAMES = frozenset(
    name.lower()
    for name in (
        "accessToken",
        "refreshToken",
        "cachedEmail",
        "cachedSignUpType",
        "stripeMembershipType",
        "stripeSubscriptionStatus",
        "onboardingDate",
        "mcpEncryptionKey",
        "sessionToken",
        "idToken",
    )
)
CURSOR_OWN_PREFIXES = ("cached", "stripe", "mcp", "workos", "auth0", "onboarding")


def is_cursor_own(name: str) -> bool:
    """True when `name` (after `secret://cursorAuth/`) is one of Cursor's own account rows, not a provider key."""
    lowered = name.lower()
    return lowered in CURSOR_OWN_NAMES or lowered.startswith(CURSOR_OWN_PREFIXES)


PROVIDER_ROW, CURSOR_ROW, EXTRA_KEY_ROW, WITHHELD_ROW = "provider", "cursor", "extra-key", "withheld"


def secret_row_kind(name: str) -> str:
    """The one rule for a `secret://cursorAuth/<name>` row, the same in list, export, import, undo and rescue.

    PROVIDER_ROW: a provider slot's own row (the registry's). CURSOR_ROW: one of Cursor's own login, account or
    MCP rows (`is_cursor_own`): never read as a key, exported or written. EXTRA_KEY_ROW: any other name ending in
    "Key" (any case), an unknown provider's key: it travels as an extra key. WITHHELD_ROW: every other name
    (authToken, jwt, sessionId..., or a name holding a line break or a control character): not a provider key,
    so it is never exported or written, only listed by name (escaped).
    """
    if name in registry().key_row_names.values():
        return PROVIDER_ROW
    if is_cursor_own(name):
        return CURSOR_ROW
    if not name.isprintable():  # a line break or a control in it: no provider's row, and shown only escaped
        return WITHHELD_ROW
    return EXTRA_KEY_ROW if name.lower().endswith("key") else WITHHELD_ROW


def withheld_rows(rows: Mapping[str, Any]) -> list[str]:
    """The `secret://cursorAuth/` rows that are never read as keys, exported or written (WITHHELD_ROW), sorted."""
    return sorted(
        r for r in rows if r.startswith(SECRET_PREFIX) and secret_row_kind(r[len(SECRET_PREFIX) :]) == WITHHELD_ROW
    )


# Where each setting lives comes from the provider registry (cursor_byok.providers): registry().key_row_names
# (key field -> row name), .blob_paths (field -> path in the settings blob), .blob_key_fields, .toggle_fields,
# .text_setting_fields. The model lists are Cursor's, not a provider's:
MODEL_BLOB_PATHS: dict[str, tuple[str, ...]] = {
    "models.user_added": ("aiSettings", "userAddedModels"),
    "models.enabled": ("aiSettings", "modelOverrideEnabled"),
    "models.disabled": ("aiSettings", "modelOverrideDisabled"),
}
ROW_PREFIXES = ENCRYPTED_ROW_PREFIXES  # every encrypted row is read: the BYOK ones, and the others as evidence


def is_encrypted_row(key: str) -> bool:
    """A row Cursor keeps encrypted with the machine secret: every `secret://` row and every MCP OAuth row."""
    return key.startswith(ENCRYPTED_ROW_PREFIXES)


RAW_MAX = 4096  # characters: a key is far shorter; a longer value is not taken for one


def raw_value(value: Any) -> str | None:
    """The key text another tool wrote into a `secret://` row instead of Cursor's form (Buffer JSON of a
    `v10`/`v11` ciphertext): the row's text itself, or the bytes of a Buffer that holds no ciphertext; "" when
    that is empty. None when the value is Cursor's form (or a cleared key), or no such text: not text, JSON
    of another shape (damage, not a key), or longer than any key (RAW_MAX)."""
    if not isinstance(value, (str, bytes, bytearray, memoryview)):
        return None
    text = as_text(value)
    if text is None or len(text) > RAW_MAX:
        return None
    try:
        blob = oscrypt.decode_buffer_json(text)
    except ValueError:
        stripped = text.strip()
        return None if stripped[:1] in ("{", "[") else plain_value(stripped).strip()
    if not blob or oscrypt.has_version_prefix(blob):
        return None
    try:
        return blob.decode("utf-8").strip()
    except UnicodeDecodeError:
        return None


_TOKEN = re.compile(r"[A-Za-z0-9_\-.:/+=]{16,512}")


def raw_is_key(field: str, value: str, base_url: str | None = None) -> bool:
    """A raw value another tool wrote has the shape of a key of this slot (its provider's published shape; one
    token of key characters where the slot has none): carrying it (export) or re-encrypting it (`set
    --from-row`) as that key is what the user wants. Anything else is not taken for a key."""
    found = check_format(field, value, base_url)
    if found == OK:
        return True
    return found == UNKNOWN and bool(_TOKEN.fullmatch(value)) and not looks_placeholder(value)


RAW_LEFT_OUT = "left out, not a key"  # the note of a raw value (another tool's) that does not look like a key


def raw_travels(field: str, value: StoredKey, base_url: str | None) -> tuple[bool, str]:
    """(carry it, the note saying so) for a key another tool wrote in clear into a secret:// row (RAW).

    Cursor never read it (it deletes the row at start), so it is never exported as if it did: a value with
    the shape of this slot's key travels as the key (that is what the user meant to store, and import writes
    it the way the other Cursor reads it); anything else is left out."""
    assert value.secret is not None
    where = f"{value.row} holds text {RAW_WORDS}"
    if raw_is_key(field, value.secret.reveal(), base_url):
        return True, f"{field}: {where}; it has the shape of this key ({value.secret.masked}), so it travels as the key"
    return False, f"{field}: {RAW_LEFT_OUT} ({where}, and it does not look like this key)"


def ciphertext(value: Any) -> bytes | None:
    """The bytes of a Buffer JSON value that start with a version prefix (`v` and two digits); None otherwise:
    not Buffer JSON, empty (a cleared key), or bytes in clear."""
    try:
        blob = oscrypt.decode_buffer_json(as_text(value) or "")
    except ValueError:
        return None
    return blob if oscrypt.has_version_prefix(blob) else None


def encrypted_prefixes(rows: Mapping[str, Any]) -> set[bytes]:
    """The ciphertext prefixes (`v10`, `v11`, ...) of the non-empty encrypted rows among `rows`."""
    return {blob[:3] for key, value in rows.items() if is_encrypted_row(key) and (blob := ciphertext(value))}


def blob_paths() -> dict[str, tuple[str, ...]]:
    """Field -> where the settings blob keeps it: every provider's toggle, settings and blob keys, the model lists."""
    return {**registry().blob_paths, **MODEL_BLOB_PATHS}


def row_keys() -> tuple[str, ...]:
    """The ItemTable rows a read fetches by name (secret:// rows come by ROW_PREFIXES)."""
    return (BLOB_KEY, *(PLAIN_PREFIX + n for n in registry().key_row_names.values()), *FACT_ROWS)


_VIEWS: dict[str, Callable[[], Any]] = {
    "KEY_ROW_NAMES": lambda: dict(registry().key_row_names),
    "BLOB_PATHS": blob_paths,
    "BLOB_KEY_FIELDS": lambda: registry().blob_key_fields,
    "BOOL_FIELDS": lambda: registry().toggle_fields,
    "STR_FIELDS": lambda: registry().text_setting_fields,
    "ROW_KEYS": row_keys,
}


if TYPE_CHECKING:  # what __getattr__ hands out under these names
    KEY_ROW_NAMES: dict[str, str]
    BLOB_PATHS: dict[str, tuple[str, ...]]
    BLOB_KEY_FIELDS: tuple[str, ...]
    BOOL_FIELDS: tuple[str, ...]
    STR_FIELDS: tuple[str, ...]
    ROW_KEYS: tuple[str, ...]


def __getattr__(name: str) -> Any:
    """KEY_ROW_NAMES, BLOB_PATHS, ROW_KEYS...: views of the current provider registry, never frozen at import
    (`from ..cursor.rows import BLOB_PATHS` freezes one: the registry's own views, `registry().blob_paths`, do not)."""
    if name in _VIEWS:
        return _VIEWS[name]()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def blob_path(field: str) -> tuple[str, ...]:
    if field.startswith(SELECTED_PREFIX):
        return ("aiSettings", "modelConfig", field[len(SELECTED_PREFIX) :], "modelName")
    return blob_paths()[field]


def as_text(value: Any) -> str | None:
    """A row value as text; None when it is not valid UTF-8."""
    if isinstance(value, str):
        return value
    if isinstance(value, (bytes, bytearray, memoryview)):
        try:
            return bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            return None
    return None if value is None else str(value)


def plain_value(text: str) -> str:
    """A legacy row's key; a JSON-quoted string is unquoted (a key never starts with a quote)."""
    if text.startswith('"'):
        try:
            inner = json.loads(text)
            if isinstance(inner, str):
                return inner
        except (ValueError, RecursionError):
            pass
    return text


# --- reading ------------------------------------------------------------------------


@dataclass
class _Reader:
    rows: Mapping[str, Any]
    storage: SafeStorage | None
    notes: list[str]

    def secret_row(self, row: str) -> StoredKey | None:
        """A decoded `secret://` row; None for a cleared (empty) one. A key another tool wrote in clear is
        read as it is, labelled RAW: Cursor cannot read it, and this tool can re-encrypt it."""
        text = as_text(self.rows[row])
        raw = raw_value(self.rows[row])
        if raw is not None:
            return StoredKey(Secret(raw), RAW, row, RAW_WORDS) if raw else None
        try:
            blob = oscrypt.decode_buffer_json(text or "")
        except ValueError as exc:
            return StoredKey(None, UNDECRYPTABLE, row, f"not a Buffer JSON value ({exc})")
        if not blob:
            return None
        if self.storage is None:
            return StoredKey(None, UNDECRYPTABLE, row, "no safe storage configured")
        try:
            value, label = self.storage.decrypt(blob)
        except (DecryptFailed, SafeStorageUnavailable) as exc:
            return StoredKey(None, UNDECRYPTABLE, row, str(exc))
        return StoredKey(Secret(value), label, row)

    def plain_row(self, row: str) -> StoredKey | None:
        text = as_text(self.rows[row])
        if text is None:
            return StoredKey(None, UNDECRYPTABLE, row, "value is not UTF-8 text")
        value = plain_value(text)
        return StoredKey(Secret(value), PLAINTEXT, row) if value else None

    def key_from_rows(self, name: str) -> StoredKey | None:
        secret_row, plain_row = SECRET_PREFIX + name, PLAIN_PREFIX + name
        if secret_row in self.rows:
            found = self.secret_row(secret_row)
            if found is not None:
                return found
        if plain_row in self.rows:
            return self.plain_row(plain_row)
        return None


def parse_blob(rows: Mapping[str, Any], notes: list[str]) -> JsonObject:
    """The settings blob as a dict; {} with a note when missing or malformed."""
    if BLOB_KEY not in rows:
        notes.append("settings blob not found: Cursor has not saved settings yet")
        return {}
    text = as_text(rows[BLOB_KEY])
    try:
        doc = json.loads(text) if text is not None else None
    except (ValueError, RecursionError):  # RecursionError: nesting deeper than Python's stack
        doc = None
    if not isinstance(doc, dict):
        notes.append("settings blob is not a JSON object: provider settings and models read as not set")
        return {}
    return doc


def _typed(field: str, value: Any, notes: list[str]) -> Any:
    """The value if it has the field's type; None with a note otherwise."""
    if value is None:
        return None
    if field in registry().toggle_fields:
        ok = isinstance(value, bool)
    elif field in registry().settings or field.startswith(SELECTED_PREFIX):
        ok = isinstance(value, str)
    else:  # model lists
        ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
        value = tuple(value) if ok else value
    if not ok:
        notes.append(f"{field}: unexpected {type(value).__name__} in the settings blob; read as not set")
        return None
    return value


def read_settings(doc: JsonObject, notes: list[str]) -> dict[str, Any]:
    """Toggles, URLs, regions and model lists from the parsed blob."""
    out: dict[str, Any] = {}
    reg, paths = registry(), blob_paths()
    for field in (*reg.toggle_fields, *reg.text_setting_fields, *MODEL_BLOB_PATHS):
        value = _typed(field, blob_patch.get_path(doc, paths[field]), notes)
        if value == "" and field in reg.url_fields:
            continue  # a base URL switched off: "" before 2.4, null from 2.4 on (the box is on when non-empty)
        if value is not None:
            out[field] = value
    config = blob_patch.get_path(doc, ("aiSettings", "modelConfig"), {})
    if isinstance(config, dict):
        for surface, entry in config.items():
            name = entry.get("modelName") if isinstance(entry, dict) else None
            if isinstance(name, str) and name:
                out[SELECTED_PREFIX + surface] = name
    return out


def _blob_key(doc: JsonObject, path: tuple[str, ...]) -> StoredKey | None:
    value = blob_patch.get_path(doc, path)
    if isinstance(value, str) and value and value not in registry().role_markers:
        return StoredKey(Secret(value), SETTINGS_JSON, f"{BLOB_KEY}#{'.'.join(path)}")
    return None


def roles_in(doc: JsonObject) -> frozenset[str]:
    """Providers whose every settable key slot in the blob holds their role marker (Bedrock's "iam")."""
    return frozenset(
        p.name
        for p in registry()
        if p.role and all(blob_patch.get_path(doc, k.blob) == p.role.marker for k in p.settable_keys)
    )


def read_profile(rows: Mapping[str, Any], storage: SafeStorage | None = None) -> Profile:
    """Every BYOK setting from the rows `store.get_items(ROW_KEYS, ROW_PREFIXES)` returned."""
    notes: list[str] = []
    reader = _Reader(rows, storage, notes)
    doc = parse_blob(rows, notes)
    fields: dict[str, Any] = read_settings(doc, notes)
    reg = registry()
    for field, slot in reg.key_slots.items():  # a row first; the settings blob where Cursor keeps it there
        found = reader.key_from_rows(slot.row) if slot.row else None
        if found is None and slot.blob:
            found = _blob_key(doc, slot.blob)
        if found is not None:
            fields[field] = found
    withheld = withheld_rows(rows)
    for row in sorted(r for r in rows if r.startswith(SECRET_PREFIX)):
        name = row[len(SECRET_PREFIX) :]
        if secret_row_kind(name) == EXTRA_KEY_ROW:
            found = reader.secret_row(row)
            if found is not None:
                fields[EXTRA_PREFIX + name] = found
    if withheld:
        notes.append(
            f"{', '.join(map(printable, withheld))}: not read as keys (only an unknown row whose name ends in Key "
            "is an unknown provider's key); never exported or written"
        )
    unreadable: dict[str, list[str]] = {}  # reason -> rows: the reason is given once, not on every row
    for key in fields.values():
        if isinstance(key, StoredKey) and key.secret is None:
            unreadable.setdefault(key.reason or "unknown reason", []).append(key.row)
    notes += [f"{', '.join(rows_)}: cannot decrypt ({reason})" for reason, rows_ in unreadable.items()]
    key_form = KeyForm.SECRET if any(r.startswith(SECRET_PREFIX) for r in rows) else KeyForm.PLAINTEXT
    return Profile(
        fields=fields, notes=tuple(notes), roles=roles_in(doc), key_form=key_form, cursor_version=recorded_version(rows)
    )


# --- writing ------------------------------------------------------------------------


class CursorOwnRow(InputError):
    """A write would touch one of Cursor's own login, account or MCP rows."""


class BlobUnpatchable(NotACursorDatabase):  # exit 4: a damaged database, not an unexpected error
    """The settings blob is malformed, so provider settings cannot be changed safely."""


def protection_of(stored: StoredKey) -> KeyForm | None:
    """How a stored key is kept: encrypted, plaintext (a legacy row) or settings-json; None when unknown."""
    if stored.storage in (PLAINTEXT, SETTINGS_JSON):
        return KeyForm(stored.storage)
    if stored.storage == RAW:  # in clear, though in a secret:// row
        return PLAINTEXT
    return KeyForm.ENCRYPTED if stored.row.startswith(ANY_SECRET_PREFIX) else None


def _row_name(rows: Mapping[str, Any], field: str) -> str | None:
    """The row name a new value of a key field goes to; None: the settings blob.

    Azure and Bedrock keys live in the blob unless this Cursor already has a
    row for them: never invent a row Cursor may not read.
    """
    slot = registry().key_slots.get(field)
    if slot is None or slot.row is None:
        return None
    if slot.blob and SECRET_PREFIX + slot.row not in rows and PLAIN_PREFIX + slot.row not in rows:
        return None
    return slot.row


def key_destination(rows: Mapping[str, Any], field: str, key_form: str) -> KeyForm:
    """Where RowWriter puts a new value of a key field: encrypted, plaintext or settings-json."""
    if field.startswith(EXTRA_PREFIX):
        return KeyForm.ENCRYPTED
    if _row_name(rows, field) is None:
        return SETTINGS_JSON
    return KeyForm.ENCRYPTED if key_form == KeyForm.SECRET else KeyForm.PLAINTEXT


@dataclass
class RowWriter:
    """Turns wanted field values into the row writes that store them.

    `encrypt` makes a `secret://` value for this machine (None: secret rows
    cannot be written); `key_form` is KeyForm.SECRET or KeyForm.PLAINTEXT.
    """

    rows: Mapping[str, Any]
    key_form: str
    encrypt: Callable[[str], str] | None = None

    def writes(self, wanted: Mapping[str, Any]) -> list[RowWrite]:
        """Row writes for {field: new value (None = remove)}; the blob in one write."""
        out: dict[str, str | None] = {}
        blob_changes: list[tuple[tuple[str, ...], Any]] = []
        for field, value in wanted.items():
            row_writes, blob = self._field(field, value)
            out.update(row_writes)
            blob_changes.extend(blob)
        if blob_changes:
            out[BLOB_KEY] = self._patched_blob(blob_changes)
        paths = tuple(path for path, _value in blob_changes)
        return [RowWrite(k, v, paths if k == BLOB_KEY else ()) for k, v in out.items() if self._differs(k, v)]

    def _differs(self, key: str, value: str | None) -> bool:
        if value is None:
            return key in self.rows
        return as_text(self.rows.get(key)) != value or not isinstance(self.rows.get(key), str)

    def _field(self, field: str, value: Any) -> FieldWrites:
        if field.startswith(EXTRA_PREFIX):
            return self._secret_only(field[len(EXTRA_PREFIX) :], value), []
        slot = registry().key_slots.get(field)
        if slot is not None:
            return self._key(field, value)
        if field.startswith("models.") and not field.startswith(SELECTED_PREFIX):
            return {}, [(blob_path(field), list(value or ()))]
        return {}, [(blob_path(field), value)]

    def _key(self, field: str, value: Secret | None) -> FieldWrites:
        slot = registry().key_slots[field]
        name = _row_name(self.rows, field)
        if name is None:  # a key kept only in the settings blob (a session token; Azure and Bedrock on 2.x)
            return {}, [(slot.blob, _reveal(value) or "")]
        secret_row, plain_row = SECRET_PREFIX + name, PLAIN_PREFIX + name
        blob: list[tuple[tuple[str, ...], Any]] = []
        if slot.blob and blob_patch.get_path(self._doc(), slot.blob):
            blob.append((slot.blob, ""))  # the row wins; do not leave a stale copy
        if value is None:
            return {secret_row: None, plain_row: None}, blob
        if self.key_form == KeyForm.SECRET:
            return {secret_row: self._encrypt(value.reveal()), plain_row: None}, blob
        return {plain_row: value.reveal(), secret_row: None}, blob

    def _secret_only(self, name: str, value: Secret | None) -> dict[str, str | None]:
        kind = secret_row_kind(name)
        if kind == CURSOR_ROW:  # bundle.to_fields refuses these first; this guards every other caller
            raise CursorOwnRow(f"{name!r} is one of Cursor's own login or account rows; cursor-byok never writes it")
        if kind == WITHHELD_ROW:
            raise CursorOwnRow(
                f"{name!r} is not a provider key (only an unknown row whose name ends in Key is); cursor-byok never "
                "writes it"
            )
        row = SECRET_PREFIX + name
        if value is None:
            return {row: None}
        return {row: self._encrypt(value.reveal())}

    def _encrypt(self, plaintext: str) -> str:
        if self.encrypt is None:
            raise SafeStorageUnavailable("no verified machine secret to encrypt keys with")
        return self.encrypt(plaintext)

    def _doc(self) -> JsonObject:
        text = as_text(self.rows.get(BLOB_KEY))
        try:
            doc = json.loads(text) if text else {}
        except (ValueError, RecursionError):
            return {}
        return doc if isinstance(doc, dict) else {}

    def _patched_blob(self, changes: list[tuple[tuple[str, ...], Any]]) -> str:
        text = as_text(self.rows.get(BLOB_KEY))
        if text is None and BLOB_KEY in self.rows:
            raise BlobUnpatchable(
                "the settings blob is not text (NULL or not UTF-8); open Cursor once to rewrite it, then retry"
            )
        text = text if text is not None else "{}"
        try:
            for path, value in changes:
                text = blob_patch.set_path(text, path, value)
            json.loads(text)
        except (blob_patch.PatchError, ValueError) as exc:
            raise BlobUnpatchable(
                f"the settings blob is malformed ({exc}); open Cursor once to rewrite it, then retry"
            ) from None
        return text


def _reveal(value: Any) -> Any:
    return value.reveal() if isinstance(value, Secret) else value
