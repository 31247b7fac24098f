"""The macOS login keychain (`login.keychain-db`), opened offline with the login password it had.

The file is Apple's CSSM "apple database" (Security: AppleDatabase.cpp, MetaRecord.cpp,
MetaAttribute.cpp): a header, a schema that lists the tables, and tables of records whose
attributes the SchemaAttributes table describes. The secrets are securityd's (ssblob.h,
dbcrypto.cpp, wrapKeyCms.cpp, securestorage.cpp):

    password --PBKDF2-HMAC-SHA1(DbBlob salt, 1000, 24)--> master key
    master key --3DES-CBC(DbBlob IV)--> crypto area: encryption key (24) || signing key (20) || private ACL
    signing key --> the DbBlob's own signature, and each KeyBlob's
    encryption key --CMS unwrap--> each item key (a symmetric-key record, labelled `ssgp` + 16 bytes)
    item key --3DES-CBC(SSGP IV)--> a generic password's secret

Which password is right is judged by the keychain's own checks, never by padding alone (a wrong
3DES key unpads the crypto area about once in 256 tries). A candidate opens the keychain only when
the DbBlob's signature verifies under the signing key it decrypts to (securityd's own check) and
every symmetric-key record unwraps under the encryption key (each after its own signature, two
paddings and the echo of its IV). A candidate that passes none of these is a wrong password; one
that passes some and fails others proves the password and a damaged file.

What the format does not protect, this module cannot check: an item's attributes and its
encrypted secret carry no signature (SSGroupImpl encrypts with 3DES-CBC and PKCS#7 only), so a
damaged byte inside an item's IV or ciphertext can still decrypt, with valid padding, to another
value. The rescue proves the secret by decrypting one of Cursor's rows with it.

Blob version 0x200 (`version_partition`, keychains with partition IDs) predates macOS 26, and such
keychains open with the password; only when no password opens a 0x200 keychain is it refused as one
that macOS 26.4 and later bound to its Mac.
"""

from __future__ import annotations

import hashlib
import hmac
import struct
from dataclasses import dataclass
from typing import Literal, Sequence

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.ciphers import Cipher, CipherAlgorithm, modes

from ..errors import RescueNotFound, StoreDamaged, StoreLocked, StoreUnsupported
from .binary import Reader
from .items import StoreItem, entry_missing
from .legacy_ciphers import legacy_cipher

ATOM = 4  # every field of the database is a big-endian u32, and values are aligned to it

# The file header (Metadata in AppleDatabase.h).
FILE_MAGIC = b"kych"
FILE_VERSION = 0x00010000
HEADER_MAGIC = 0
HEADER_VERSION = 4
HEADER_SCHEMA_OFFSET = 12

# The schema section, at HEADER_SCHEMA_OFFSET: its size, the table count, each table's offset in it.
SCHEMA_SIZE = 0
SCHEMA_TABLE_COUNT = 4
SCHEMA_TABLES = 8

# A table (Table in AppleDatabase.h). The record-numbers array maps each record number to the
# record's offset in the table; 0, or an odd value (a free-list link), is a free slot.
TABLE_SIZE = 0
TABLE_ID = 4
TABLE_RECORDS_COUNT = 8
TABLE_RECORD_NUMBERS_COUNT = 24
TABLE_RECORD_NUMBERS = 28

# A record (MetaRecord.h): its header, one offset per schema attribute, the data, the attribute values.
RECORD_SIZE = 0
RECORD_NUMBER = 4
RECORD_DATA_SIZE = 16
RECORD_ATTRIBUTE_OFFSETS = 24

# Tables (relation ids, CSSM_DL_DB_RECORD_*).
SCHEMA_ATTRIBUTES = 0x00000002
SCHEMA_RELATIONS_END = 5  # relations 0-4 are the schema's own tables: they are not described
SYMMETRIC_KEY = 0x00000011
GENERIC_PASSWORD = 0x80000000
METADATA = 0x80008000  # holds the DbBlob

# SchemaAttributes records: this table's own attributes are fixed (AttrSchemaAttributes).
SA_RELATION_ID = 0
SA_ATTRIBUTE_ID = 1
SA_ATTRIBUTE_FORMAT = 5
SA_ATTRIBUTE_COUNT = 6

# Attribute formats (CSSM_DB_ATTRIBUTE_FORMAT_*) and the attributes this module reads.
FORMAT_BLOB = 6
ATTR_SERVICE = int.from_bytes(b"svce", "big")
ATTR_ACCOUNT = int.from_bytes(b"acct", "big")
ATTR_PRINT_NAME = 7  # kSecLabelItemAttr of a password item
ATTR_KEY_LABEL = 6  # a key's Label: for an item key, `ssgp` + 16 random bytes

# CommonBlob (ssblob.h): the magic and version every securityd blob starts with.
BLOB_MAGIC = b"\xfa\xde\x07\x11"
BLOB_BOUNDS_AT = 8  # startCryptoBlob, then totalLength
BLOB_VERSION_10_0 = 0x00000100  # signed with CSSM_ALGID_SHA1HMAC_LEGACY
BLOB_VERSION_10_1 = 0x00000101
BLOB_VERSION_PARTITION = 0x00000200  # keychains with partition IDs; macOS 26.4 Mac-bound ones say the same
KNOWN_BLOB_VERSIONS = (BLOB_VERSION_10_0, BLOB_VERSION_10_1, BLOB_VERSION_PARTITION)

# DbBlob: CommonBlob, startCryptoBlob, totalLength, randomSignature[16], sequence, DBParameters (8),
# salt[20], iv[8], blobSignature[20]; the public ACL follows, then the crypto area.
DB_BLOB_SKIPPED = 16 + 4 + 8  # randomSignature, sequence, DBParameters: signed, not read
DB_BLOB_SIGNATURE_AT = 72
DB_BLOB_SIZE = 92

# KeyBlob: CommonBlob, startCryptoBlob, totalLength, iv[8], the key's CSSM header (76), the wrapped
# key's header (16), blobSignature[20]; the public ACL follows, then the wrapped key.
KEY_BLOB_SKIPPED = 76 + 16
KEY_BLOB_SIGNATURE_AT = 116
KEY_BLOB_SIZE = 136

# An item's data (SSGroupImpl): label[20] (`ssgp` + 16), iv[8], then the secret, 3DES-CBC with PKCS#7.
SSGP_MAGIC = b"ssgp"
SSGP_LABEL_SIZE = 20

SALT_SIZE = 20
BLOCK = 8
KEY_SIZE = 24  # 3DES, three keys
SIGNING_KEY_SIZE = 20
SIGNATURE_SIZE = 20
PBKDF2_ITERATIONS = 1000
CMS_IV = bytes.fromhex("4adda22c79e82105")  # wrapKeyCms.cpp's fixed IV for the outer pass
CMS_DESCRIPTION_LENGTH = 4  # the unwrapped key starts with the length of its descriptive data

CURSOR_ENTRY = ("Cursor Safe Storage", "Cursor Key")
CURSOR_NIGHTLY_ENTRY = ("Cursor Nightly Safe Storage", "Cursor Nightly Key")

V2_ROUTE = (
    "macOS 26.4 and later bind the login keychain to the Mac, so it cannot be opened offline: restore the "
    "backup to a Mac with Migration Assistant, log in, and run `cursor-byok export` there"
)

Verdict = Literal["opened", "wrong", "damaged"]


# --- the database: sections, tables, records -------------------------------------------------------------


@dataclass(frozen=True)
class _Section:
    """A bounded window of the file (Apple's ReadSection): offsets are relative to `start`, nothing reads past `end`."""

    data: bytes
    start: int
    end: int
    what: str

    def damaged(self, why: str, offset: int = 0) -> StoreDamaged:
        return Reader(self.data, self.what, offset=self.start + offset).damaged(why)

    def take(self, offset: int, size: int, field: str) -> bytes:
        if offset < 0 or size < 0 or self.start + offset + size > self.end:
            raise self.damaged(f"{field} runs past its section", offset)
        return self.data[self.start + offset : self.start + offset + size]

    def u32(self, offset: int, field: str) -> int:
        value: int = struct.unpack(">I", self.take(offset, ATOM, field))[0]
        return value

    def sub(self, offset: int, size: int, field: str) -> _Section:
        self.take(offset, size, field)
        return _Section(self.data, self.start + offset, self.start + offset + size, self.what)


@dataclass(frozen=True)
class _Record:
    """One record: its section, one value offset per schema attribute (0: no value; odd: one value), its data."""

    section: _Section
    attributes: tuple[int, ...]
    data: bytes

    @property
    def data_at(self) -> int:
        """Where the data starts in the file."""
        return self.section.start + RECORD_ATTRIBUTE_OFFSETS + ATOM * len(self.attributes)


def _align(offset: int) -> int:
    return (offset + ATOM - 1) // ATOM * ATOM


@dataclass(frozen=True)
class _Database:
    """The whole file, and its tables by id."""

    file: _Section
    tables: dict[int, _Section]

    def table(self, table_id: int) -> _Section:
        table = self.tables.get(table_id)
        if table is None:
            raise self.file.damaged(f"no table 0x{table_id:08x}, which every keychain has")
        return table


def _database(data: bytes, what: str) -> _Database:
    """The file's tables by id, each bounded by its own size inside the schema section."""
    file = _Section(data, 0, len(data), what)
    if file.take(HEADER_MAGIC, len(FILE_MAGIC), "the header") != FILE_MAGIC:
        raise file.damaged("not a keychain file (no `kych` magic)")
    if file.u32(HEADER_VERSION, "the header") != FILE_VERSION:
        raise file.damaged("an unknown keychain file version", HEADER_VERSION)
    schema_at = file.u32(HEADER_SCHEMA_OFFSET, "the header")
    schema = file.sub(schema_at, file.u32(schema_at + SCHEMA_SIZE, "the schema"), "the schema")
    count = schema.u32(SCHEMA_TABLE_COUNT, "the schema")
    schema.take(SCHEMA_TABLES, ATOM * count, "the schema's table list")
    tables: dict[int, _Section] = {}
    for index in range(count):
        table_at = schema.u32(SCHEMA_TABLES + ATOM * index, "the schema's table list")
        table = schema.sub(table_at, schema.u32(table_at + TABLE_SIZE, "a table"), "a table")
        table_id = table.u32(TABLE_ID, "a table")
        if table_id in tables:
            raise table.damaged(f"a second table 0x{table_id:08x}")
        tables[table_id] = table
    return _Database(file, tables)


def _record_sections(table: _Section) -> list[_Section]:
    """The table's live records in file order, each checked against its slot (as Table::getRecord does)."""
    slots = table.u32(TABLE_RECORD_NUMBERS_COUNT, "a table's header")
    table.take(TABLE_RECORD_NUMBERS, ATOM * slots, "a table's record numbers")
    records = []
    for number in range(slots):
        record_at = table.u32(TABLE_RECORD_NUMBERS + ATOM * number, "a table's record numbers")
        if record_at == 0 or record_at & 1:
            continue  # a free slot
        record = table.sub(record_at, table.u32(record_at + RECORD_SIZE, "a record"), "a record")
        if record.u32(RECORD_NUMBER, "a record's header") != number:
            raise record.damaged("a record whose number is not its slot's", RECORD_NUMBER)
        records.append(record)
    if len(records) != table.u32(TABLE_RECORDS_COUNT, "a table's header"):
        raise table.damaged("a table whose record count does not match its records", TABLE_RECORDS_COUNT)
    return sorted(records, key=lambda section: section.start)


def _record(section: _Section, attribute_count: int) -> _Record:
    """A record of a table with `attribute_count` attributes; its values must start right after its data."""
    offsets = section.take(RECORD_ATTRIBUTE_OFFSETS, ATOM * attribute_count, "a record's attribute offsets")
    attributes = struct.unpack(f">{attribute_count}I", offsets)
    data_at = RECORD_ATTRIBUTE_OFFSETS + ATOM * attribute_count
    data = section.take(data_at, section.u32(RECORD_DATA_SIZE, "a record's header"), "a record's data")
    values_at = [offset & ~1 for offset in attributes if offset]
    if values_at and min(values_at) != _align(data_at + len(data)):
        raise section.damaged("a record whose attribute values do not follow its data", RECORD_DATA_SIZE)
    return _Record(section, attributes, data)


def _value_at(record: _Record, index: int) -> int | None:
    """Where the one value of attribute `index` is, or None when it has none (MetaAttribute's packing)."""
    offset = record.attributes[index]
    if offset == 0:
        return None
    if offset & 1:
        return offset ^ 1
    count = record.section.u32(offset, "an attribute's value count")
    if count > 1:
        raise record.section.damaged(f"an attribute with {count} values where one is expected", offset)
    return offset + ATOM if count else None


def _u32_value(record: _Record, index: int, field: str) -> int:
    offset = _value_at(record, index)
    if offset is None:
        raise record.section.damaged(f"a schema record without its {field}")
    return record.section.u32(offset, field)


def _blob_value(record: _Record, index: int, field: str) -> bytes | None:
    """A blob or string attribute's bytes: a u32 length, then the bytes."""
    offset = _value_at(record, index)
    if offset is None:
        return None
    return record.section.take(offset + ATOM, record.section.u32(offset, field), field)


Schema = dict[int, list[tuple[int, int]]]


def _schema(database: _Database) -> Schema:
    """Each relation's attributes (id, format) in record order, as DbVersion::open builds its MetaRecords."""
    schema: Schema = {}
    for section in _record_sections(database.table(SCHEMA_ATTRIBUTES)):
        record = _record(section, SA_ATTRIBUTE_COUNT)
        relation = _u32_value(record, SA_RELATION_ID, "RelationID")
        if relation < SCHEMA_RELATIONS_END:
            continue
        attribute = (
            _u32_value(record, SA_ATTRIBUTE_ID, "AttributeID"),
            _u32_value(record, SA_ATTRIBUTE_FORMAT, "AttributeFormat"),
        )
        schema.setdefault(relation, []).append(attribute)
    return schema


def _attribute_index(schema: Schema, relation: int, attribute: int, table: _Section) -> int:
    """Where a blob attribute sits in the relation's records; the standard keychain schema always has it."""
    found = [index for index, (attr_id, _) in enumerate(schema.get(relation, [])) if attr_id == attribute]
    if len(found) != 1 or schema[relation][found[0]][1] != FORMAT_BLOB:
        raise table.damaged(f"a schema without one blob attribute 0x{attribute:08x} for table 0x{relation:08x}")
    return found[0]


# --- the blobs: what the records hold -------------------------------------------------------------------


@dataclass(frozen=True)
class _SignedBlob:
    """A DbBlob or KeyBlob: its version, the bytes its signature covers, its signature, IV and encrypted part."""

    version: int
    signed: tuple[bytes, bytes]
    signature: bytes
    iv: bytes
    crypto: bytes


@dataclass(frozen=True)
class _DbBlob:
    salt: bytes
    blob: _SignedBlob


@dataclass(frozen=True)
class _KeyRecord:
    label: bytes | None
    blob: _SignedBlob


@dataclass(frozen=True)
class _PasswordRecord:
    """A generic password: its names, and its data (empty when the item stores none)."""

    service: str
    account: str
    print_name: str
    data: bytes
    data_at: int  # where the data starts in the file

    @property
    def name(self) -> str:
        return f"{self.service}/{self.account}"


@dataclass(frozen=True)
class _Keychain:
    what: str
    db_blob: _DbBlob
    keys: tuple[_KeyRecord, ...]
    passwords: tuple[_PasswordRecord, ...]

    @property
    def version(self) -> int:
        return self.db_blob.blob.version


def _blob_bounds(reader: Reader, blob: bytes, header_size: int) -> tuple[int, int]:
    """startCryptoBlob and totalLength: the encrypted part is whole blocks after the fixed header."""
    start, total = reader.u32(), reader.u32()
    if not header_size <= start < total <= len(blob) or (total - start) % BLOCK:
        reader.pos = BLOB_BOUNDS_AT
        raise reader.damaged("a blob whose encrypted part is out of bounds or not whole blocks")
    return start, total


def _db_blob(database: _Database, schema: Schema) -> _DbBlob:
    """The DbBlob, the one record of the metadata table."""
    table = database.table(METADATA)
    records = _record_sections(table)
    if len(records) != 1:
        raise table.damaged(f"{len(records)} database blobs where there is one")
    blob = _record(records[0], len(schema.get(METADATA, []))).data
    reader = Reader(blob, f"{database.file.what} (its DbBlob)")
    reader.expect(BLOB_MAGIC, "keychain database blob")
    version = reader.u32()
    start, total = _blob_bounds(reader, blob, DB_BLOB_SIZE)
    reader.skip(DB_BLOB_SKIPPED)
    salt, iv, signature = reader.take(SALT_SIZE), reader.take(BLOCK), reader.take(SIGNATURE_SIZE)
    signed = (blob[:DB_BLOB_SIGNATURE_AT], blob[DB_BLOB_SIZE:total])
    return _DbBlob(salt, _SignedBlob(version, signed, signature, iv, blob[start:total]))


def _key_record(record: _Record, label_index: int, what: str) -> _KeyRecord:
    blob = record.data
    reader = Reader(blob, f"{what} (a KeyBlob)")
    reader.expect(BLOB_MAGIC, "keychain key blob")
    version = reader.u32()
    start, total = _blob_bounds(reader, blob, KEY_BLOB_SIZE)
    iv = reader.take(BLOCK)
    reader.skip(KEY_BLOB_SKIPPED)
    signature = reader.take(SIGNATURE_SIZE)
    signed = (blob[:KEY_BLOB_SIGNATURE_AT], blob[KEY_BLOB_SIZE:total])
    label = _blob_value(record, label_index, "a key's label")
    return _KeyRecord(label, _SignedBlob(version, signed, signature, iv, blob[start:total]))


def _text(value: bytes | None) -> str:
    return "" if value is None else value.decode("utf-8", "replace")


def _password_record(record: _Record, indexes: tuple[int, int, int]) -> _PasswordRecord:
    service, account, print_name = (_blob_value(record, index, "an item's name") for index in indexes)
    return _PasswordRecord(_text(service), _text(account), _text(print_name), record.data, record.data_at)


def _parse(data: bytes, what: str) -> _Keychain:
    """Everything the password unlocks, read and bounds-checked; nothing decrypted yet."""
    database = _database(data, what)
    schema = _schema(database)
    key_table = database.table(SYMMETRIC_KEY)
    key_attributes = len(schema.get(SYMMETRIC_KEY, []))
    label_index = _attribute_index(schema, SYMMETRIC_KEY, ATTR_KEY_LABEL, key_table)
    keys = tuple(_key_record(_record(s, key_attributes), label_index, what) for s in _record_sections(key_table))
    password_table = database.table(GENERIC_PASSWORD)
    indexes = (
        _attribute_index(schema, GENERIC_PASSWORD, ATTR_SERVICE, password_table),
        _attribute_index(schema, GENERIC_PASSWORD, ATTR_ACCOUNT, password_table),
        _attribute_index(schema, GENERIC_PASSWORD, ATTR_PRINT_NAME, password_table),
    )
    password_attributes = len(schema.get(GENERIC_PASSWORD, []))
    passwords = tuple(
        _password_record(_record(s, password_attributes), indexes) for s in _record_sections(password_table)
    )
    return _Keychain(what, _db_blob(database, schema), keys, passwords)


# --- the cryptography -----------------------------------------------------------------------------------


def _legacy_missing() -> StoreUnsupported:
    return StoreUnsupported(
        "a macOS keychain is encrypted with 3DES, and the installed `cryptography` has no TripleDES (it needs "
        "cryptography 43 or later, with OpenSSL's 3DES); upgrade it and run again",
        reason="legacy-ciphers-missing",
    )


def _triple_des(key: bytes) -> CipherAlgorithm:
    """cryptography's TripleDES, or StoreUnsupported if this build lacks it."""
    return legacy_cipher("TripleDES", key, _legacy_missing)


def _decrypt(key: bytes, iv: bytes, data: bytes) -> bytes:
    """Raw 3DES-CBC decryption of whole blocks (no unpadding)."""
    try:
        decryptor = Cipher(_triple_des(key), modes.CBC(iv)).decryptor()
    except UnsupportedAlgorithm:
        raise _legacy_missing() from None
    return decryptor.update(data) + decryptor.finalize()


def _unpad_unverified(plain: bytes) -> bytes | None:
    """PKCS#7 for 8-byte blocks, or None. Valid padding proves nothing: a wrong key passes about 1 in 256."""
    pad = plain[-1] if plain else 0
    if not 1 <= pad <= BLOCK or plain[-pad:] != bytes([pad]) * pad:
        return None
    return plain[:-pad]


def _legacy_hmac_sha1(key: bytes, chunks: Sequence[bytes]) -> bytes:
    """CSSM_ALGID_SHA1HMAC_LEGACY (HmacSha1Legacy.c): each chunk is a whole HMAC folded into the next.

    Its update() finishes the inner hash and starts the outer one without finishing it, so a second
    chunk lands after the first chunk's inner digest. With one chunk it is HMAC-SHA1.
    """
    padded = key.ljust(64, b"\0")
    inner_pad, outer_pad = bytes(b ^ 0x36 for b in padded), bytes(b ^ 0x5C for b in padded)
    state = b""
    for chunk in chunks:
        state = outer_pad + hashlib.sha1(state + inner_pad + chunk).digest()
    return hashlib.sha1(state).digest()


def _signature(version: int, key: bytes, chunks: Sequence[bytes]) -> bytes:
    """How securityd signs a blob of `version`: the legacy HMAC for 10.0 blobs, HMAC-SHA1 for the others."""
    if version == BLOB_VERSION_10_0:
        return _legacy_hmac_sha1(key, chunks)
    return hmac.new(key, b"".join(chunks), "sha1").digest()


def _signature_ok(blob: _SignedBlob, signing_key: bytes) -> bool:
    return hmac.compare_digest(_signature(blob.version, signing_key, blob.signed), blob.signature)


@dataclass(frozen=True)
class _DbKeys:
    """The crypto area's keys, before any check has vouched for them."""

    encryption_unverified: bytes
    signing_unverified: bytes


def _master_key(password: str, salt: bytes) -> bytes:
    return hashlib.pbkdf2_hmac("sha1", password.encode("utf-8"), salt, PBKDF2_ITERATIONS, KEY_SIZE)


def _crypto_area_unverified(password: str, db_blob: _DbBlob) -> _DbKeys | None:
    """The crypto area under this password's master key, or None when it does not even unpad."""
    blob = db_blob.blob
    plain = _unpad_unverified(_decrypt(_master_key(password, db_blob.salt), blob.iv, blob.crypto))
    if plain is None or len(plain) < KEY_SIZE + SIGNING_KEY_SIZE:
        return None
    return _DbKeys(plain[:KEY_SIZE], plain[KEY_SIZE : KEY_SIZE + SIGNING_KEY_SIZE])


def _unwrap(keys: _DbKeys, blob: _SignedBlob) -> bytes | None:
    """A KeyBlob's key (wrapKeyCms.cpp), or None unless its signature, both paddings and its IV echo check out.

    Outer pass: 3DES-CBC with the fixed CMS IV, then reversed, gives the blob's IV and the inner
    ciphertext; inner pass: 3DES-CBC with that IV gives a descriptive-data length, that data and the key.
    """
    if not _signature_ok(blob, keys.signing_unverified):
        return None
    outer = _unpad_unverified(_decrypt(keys.encryption_unverified, CMS_IV, blob.crypto))
    if outer is None or len(outer) < 2 * BLOCK or len(outer) % BLOCK:
        return None
    reversed_outer = outer[::-1]
    if reversed_outer[:BLOCK] != blob.iv:
        return None
    inner = _unpad_unverified(_decrypt(keys.encryption_unverified, blob.iv, reversed_outer[BLOCK:]))
    if inner is None or len(inner) < CMS_DESCRIPTION_LENGTH:
        return None
    key_at = CMS_DESCRIPTION_LENGTH + int.from_bytes(inner[:CMS_DESCRIPTION_LENGTH], "big")
    return inner[key_at:] if key_at < len(inner) else None


def _judge(signature_ok: bool, unwrapped: int, keys: int) -> Verdict:
    """The password rule: the DbBlob's signature and every symmetric key agree, or the file is damaged."""
    if signature_ok and unwrapped == keys:
        return "opened"
    if not signature_ok and unwrapped == 0:
        return "wrong"
    return "damaged"


def _try_password(keychain: _Keychain, password: str) -> tuple[Verdict, dict[bytes, bytes]]:
    """This password's verdict, and the item keys by label when it opens the keychain."""
    keys = _crypto_area_unverified(password, keychain.db_blob)
    if keys is None:
        return "wrong", {}
    signature_ok = _signature_ok(keychain.db_blob.blob, keys.signing_unverified)
    unwrapped = [(record.label, _unwrap(keys, record.blob)) for record in keychain.keys]
    verdict = _judge(signature_ok, sum(key is not None for _, key in unwrapped), len(unwrapped))
    item_keys = {label: key for label, key in unwrapped if label is not None and key is not None}
    return verdict, item_keys if verdict == "opened" else {}


# --- opening: the public functions ----------------------------------------------------------------------


def _refusal(keychain: _Keychain, tried: int) -> Exception:
    """No password opened it: a wrong password, or (blob version 0x200) a Mac-bound keychain."""
    if keychain.version == BLOB_VERSION_PARTITION:
        return StoreUnsupported(
            f"{keychain.what}: none of the {tried} password(s) given opens this keychain (blob version 0x200). "
            + V2_ROUTE,
            reason="keychain-v2",
        )
    if keychain.version not in KNOWN_BLOB_VERSIONS:
        return StoreUnsupported(
            f"{keychain.what}: none of the {tried} password(s) given opens this keychain, and its blob version "
            f"0x{keychain.version:x} is not one this tool knows; open it on a Mac (log in, run `cursor-byok export`)"
        )
    return StoreLocked(
        f"{keychain.what}: none of the {tried} password(s) given opens this keychain; give the login password the "
        "Mac had when this copy was made (or the keychain's own password, if it was changed apart from the login)"
    )


def _secret(keychain: _Keychain, record: _PasswordRecord, item_keys: dict[bytes, bytes]) -> bytes:
    """The item's secret: its SSGP data decrypted with the item key its label names."""
    if not record.data:
        return b""
    reader = Reader(record.data, f"{keychain.what} (the item {record.name})")
    label, iv = reader.take(SSGP_LABEL_SIZE), reader.take(BLOCK)
    ciphertext = reader.take(reader.left)
    if not label.startswith(SSGP_MAGIC):
        raise reader.damaged("an item whose data is not secure-storage data (no `ssgp` label)")
    key = item_keys.get(label)
    if key is None or len(key) != KEY_SIZE or not ciphertext or len(ciphertext) % BLOCK:
        raise reader.damaged("an item whose key is missing or whose secret is not whole 3DES blocks")
    secret = _unpad_unverified(_decrypt(key, iv, ciphertext))
    if secret is None:
        raise reader.damaged("an item whose secret does not decrypt with its own key")
    return secret


def _item(keychain: _Keychain, record: _PasswordRecord, item_keys: dict[bytes, bytes]) -> StoreItem:
    return StoreItem(
        label=record.print_name or record.service,
        attributes={"service": record.service, "account": record.account},
        secret=_secret(keychain, record, item_keys),
    )


def open_keychain(data: bytes, passwords: Sequence[str], *, name: str) -> list[StoreItem]:
    """The generic passwords of a keychain file (`login.keychain-db`), opened with the first password that fits.

    Each item's label is its name in Keychain Access; its attributes are "service" and "account".
    Raises StoreDamaged (a wrong or damaged file, or a password that opens a keychain whose checks then
    disagree), StoreLocked (no password opens it), StoreUnsupported (`keychain-v2`: no password opens a
    blob-version-0x200 keychain, which macOS 26.4 and later bind to the Mac; `legacy-ciphers-missing`).
    """
    keychain = _parse(data, name)
    _decrypt(bytes(KEY_SIZE), bytes(BLOCK), bytes(BLOCK))  # no 3DES here: StoreUnsupported before any password
    for password in passwords:
        verdict, item_keys = _try_password(keychain, password)
        if verdict == "opened":
            return [_item(keychain, record, item_keys) for record in keychain.passwords]
        if verdict == "damaged":
            raise StoreDamaged(
                f"{name}: a password given passes some of this keychain's own checks and fails others, so the file "
                "is damaged; try another copy of it"
            )
    raise _refusal(keychain, len(passwords))


def cursor_secret(items: Sequence[StoreItem], *, store_name: str, nightly: bool = False) -> bytes:
    """Cursor's safe-storage password among a keychain's items, as stored (its 24 characters are not decoded).

    Looked up as Electron stores it: service and account first, then the service alone (the account
    was `Cursor` before Electron appended " Key"); the first match in file order wins.
    """
    service, account = CURSOR_NIGHTLY_ENTRY if nightly else CURSOR_ENTRY
    same_service = [item for item in items if item.attributes.get("service") == service]
    chosen = [item for item in same_service if item.attributes.get("account") == account] or same_service
    if not chosen:
        raise entry_missing(store_name, (_item_name(item) for item in items))
    if not chosen[0].secret:
        raise RescueNotFound(
            f"{store_name} holds Cursor's entry ({_item_name(chosen[0])}), but it stores no password",
            reason="entry-missing",
        )
    return chosen[0].secret


def _item_name(item: StoreItem) -> str:
    return f"{item.attributes.get('service', '')}/{item.attributes.get('account', '')}"
