"""Sharing with third parties from Python, as tests/sharing.rs and the C
test: a recipient with a generated key pair, sharing consents through
``record_consent`` (channels ``third_party`` and ``third_party_sensitive``),
a share of name, mobile and ID number, the recipient's ``ShareSession``
(granted fields of consenting customers only), a package verified and
opened with the recipient's secret only, the customer's disclosures,
revocation, and the refusals, each with its exception and rule."""

from __future__ import annotations

import time
from typing import Iterator, NamedTuple

import pytest

import custodian

DAY = 86_400_000
NOW = int(time.time() * 1000)
AGREEMENT = "DPA-2026-017"


class Setup(NamedTuple):
    admin: custodian.Session
    clerk: custodian.Session
    compliance: custodian.Session
    secret: bytes
    public: bytes
    ids: list[int]


def customer(admin: custodian.Session, i: int, id_number: str) -> int:
    made = admin.create(
        {
            "external_code": f"KH9{i:02}",
            "name": "王五",
            "mobile": f"1390000009{i}",
            "email": f"user9{i}@example.com",
            "id_number": id_number,
            "category": "零售",
        }
    )
    return made.id


@pytest.fixture
def shared(store: custodian.Store, admin: custodian.Session) -> Iterator[Setup]:
    """Recipients ``acme`` and ``other``; customer 0 consents to acme, 1 to
    every third party with sensitive data, 2 never, 3 consents to acme."""
    secret, public = custodian.generate_recipient_keypair()
    admin.register_recipient(
        "acme",
        "顺达物流有限公司",
        agreement=AGREEMENT,
        agreement_from=NOW - DAY,
        agreement_until=NOW + 365 * DAY,
        public_key=public,
    )
    _, other = custodian.generate_recipient_keypair()
    admin.register_recipient(
        "other", "其他公司", agreement="DPA-9", agreement_from=NOW - DAY, agreement_until=NOW + DAY, public_key=other.hex()
    )
    ids = [
        customer(admin, 0, "110101199003078515"),
        customer(admin, 1, "11010519491231002X"),
        customer(admin, 2, "110101199003078515"),
        customer(admin, 3, "110101199003078515"),
    ]
    with store.session("clerk", "service") as clerk, store.session("admin", "compliance", mfa=True) as compliance:
        consent = {"source": "web_form", "policy_version": "v2"}
        clerk.record_consent(ids[0], "acme", "third_party", True, **consent)
        clerk.record_consent(ids[1], "third_parties", "third_party", True, **consent)
        clerk.record_consent(ids[1], "third_parties", "third_party_sensitive", True, **consent)
        clerk.record_consent(ids[3], "acme", "third_party", True, **consent)
        yield Setup(admin, clerk, compliance, secret, public, ids)


def share_of(s: Setup) -> custodian.Share:
    return s.admin.create_share(
        "acme",
        "delivery",
        ["name", "mobile", "id_number"],
        customers=s.ids,
        expires_at=NOW + 30 * DAY,
        agreement=AGREEMENT,
    )


def test_keys_and_recipients(shared: Setup) -> None:
    secret, public = shared.secret, shared.public
    assert len(secret) == 32 and len(public) == 32 and secret != public
    assert custodian.recipient_public_key(secret) == public
    assert custodian.recipient_public_key(bytearray(secret)) == public
    with pytest.raises(custodian.Invalid) as short:
        custodian.recipient_public_key(secret[:31])
    assert short.value.status == custodian.STATUS["INVALID_ARGUMENT"]

    recipients = shared.admin.recipients()
    assert [r.id for r in recipients] == ["acme", "other"]
    acme = recipients[0]
    assert isinstance(acme, custodian.Recipient)
    assert acme.public_key == public.hex() and acme.agreement == AGREEMENT and acme.registered_by == "admin"
    assert acme.name == "顺达物流有限公司" and acme.revoked is None
    with pytest.raises(custodian.AlreadyExists):
        shared.admin.register_recipient(
            "acme", "x", agreement=AGREEMENT, agreement_from=NOW, agreement_until=NOW + DAY, public_key=public
        )
    refusals: list[tuple[dict[str, object], str]] = [
        ({"public_key": "abcd"}, "recipient_public_key"),
        ({"public_key": bytes(32)}, "recipient_public_key"),
        ({"id": "marketing"}, "recipient_id"),
        ({"agreement_until": NOW - 2 * DAY}, "agreement_period"),
    ]
    for change, rule in refusals:
        arguments = {
            "id": "carrier",
            "name": "承运公司",
            "agreement": "DPA-7",
            "agreement_from": NOW - DAY,
            "agreement_until": NOW + DAY,
            "public_key": public,
            **change,
        }
        with pytest.raises(custodian.Invalid) as refused:
            shared.admin.register_recipient(**arguments)  # type: ignore[arg-type]
        assert refused.value.rule == rule, change
    with pytest.raises(TypeError):
        shared.admin.register_recipient(
            "carrier", "x", agreement="A", agreement_from=NOW, agreement_until=NOW + DAY, public_key=7  # type: ignore[arg-type]
        )
    with pytest.raises(ValueError):
        shared.admin.register_recipient(
            "carrier", "x\0y", agreement="A", agreement_from=NOW, agreement_until=NOW + DAY, public_key=public
        )
    with pytest.raises(custodian.Denied):
        shared.clerk.recipients()
    assert [r.id for r in shared.admin.recipients()] == ["acme", "other"]

    revoked = shared.admin.revoke_recipient("other", "breach")
    assert revoked.revoked is not None and revoked.revoked.reason == "breach" and revoked.revoked.by == "admin"
    with pytest.raises(custodian.RecipientNotFound) as unknown:
        shared.admin.revoke_recipient("nobody_here", "breach")
    assert isinstance(unknown.value, custodian.NotFound)
    assert unknown.value.status == custodian.STATUS["RECIPIENT_NOT_FOUND"]
    with pytest.raises(custodian.Invalid) as twice:
        shared.admin.revoke_recipient("other", "again")
    assert twice.value.rule == "already_revoked"
    # A sharing consent names a registered recipient or every third party.
    with pytest.raises(custodian.Invalid) as consent:
        shared.clerk.record_consent(shared.ids[2], "nobody_here", "third_party", True, source="web_form", policy_version="v2")
    assert consent.value.rule == "consent_recipient_unknown"


def test_shares_are_checked_and_nothing_is_stored_on_a_refusal(shared: Setup) -> None:
    admin = shared.admin

    def create(**change: object) -> custodian.Share:
        arguments: dict[str, object] = {
            "recipient": "acme",
            "purpose": "delivery",
            "fields": ["name", "mobile"],
            "customers": shared.ids,
            "expires_at": NOW + DAY,
            "agreement": AGREEMENT,
        }
        arguments.update(change)
        return admin.create_share(**arguments)  # type: ignore[arg-type]

    with pytest.raises(TypeError):
        create(filter={"tier": "A"})  # both
    with pytest.raises(TypeError):
        create(customers=None)  # neither
    with pytest.raises(TypeError):
        create(fields="name")
    with pytest.raises(custodian.Invalid) as outlives:
        create(expires_at=NOW + 400 * DAY)
    assert outlives.value.rule == "share_outlives_agreement"
    with pytest.raises(custodian.Invalid) as past:
        create(expires_at=(NOW - DAY) / 1000.0)
    assert past.value.rule == "share_expiry_past"
    with pytest.raises(custodian.Invalid) as mismatch:
        create(agreement="DPA-OTHER")
    assert mismatch.value.rule == "share_agreement_mismatch"
    with pytest.raises(custodian.Invalid) as empty:
        create(customers=[])
    assert empty.value.rule == "share_customers_count"
    with pytest.raises(custodian.Invalid) as colour:
        create(customers=None, filter={"colour": "red"})
    assert "colour" in colour.value.message
    with pytest.raises(custodian.Invalid) as unknown_field:
        create(fields=["colour"])
    assert unknown_field.value.status == custodian.STATUS["UNKNOWN_FIELD"]
    with pytest.raises(custodian.NotFound):
        create(customers=[987654])
    with pytest.raises(custodian.RecipientNotFound):
        create(recipient="nobody_here")
    with pytest.raises(custodian.Denied):
        shared.clerk.create_share("acme", "delivery", ["name"], customers=shared.ids, expires_at=NOW + DAY, agreement=AGREEMENT)
    assert admin.shares() == []

    share = share_of(shared)
    assert isinstance(share, custodian.Share)
    assert share.id == 1 and share.recipient == "acme" and share.purpose == "delivery"
    assert share.fields == ["name", "mobile", "id_number"]
    assert share.customers == sorted(shared.ids) and share.filter is None
    assert share.expires_at == NOW + 30 * DAY and share.created_by == "admin" and share.revoked is None
    by_tier = create(customers=None, filter={"tier": "Z"})
    assert by_tier.id == 2 and by_tier.filter == {"tier": "Z"} and by_tier.customers is None
    assert [s.id for s in admin.shares()] == [1, 2]
    with pytest.raises(Exception):
        share.id = 3  # type: ignore[misc]  # frozen


def test_a_recipient_sees_only_the_granted_fields_of_consenting_customers(
    store: custodian.Store, shared: Setup
) -> None:
    share = share_of(shared)
    ids = shared.ids
    with pytest.raises(custodian.ShareNotFound) as unknown:
        store.share_session(999)
    assert isinstance(unknown.value, custodian.NotFound)
    assert unknown.value.status == custodian.STATUS["SHARE_NOT_FOUND"]
    with store.share_session(share.id) as session:
        assert isinstance(session, custodian.ShareSession)
        assert session.share_id == share.id and session.recipient == "acme"
        first = session.get(ids[0])
        assert first["mobile"] == custodian.Value("13900000090", custodian.Shown.PLAIN)
        assert first["name"].text == "王五"
        assert first["id_number"].shown is custodian.Shown.WITHHELD
        assert first["email"].shown is custodian.Shown.WITHHELD
        assert first.as_dict() == {"name": "王五", "mobile": "13900000090"}
        assert session.get(ids[1])["id_number"].text == "11010519491231002X"
        with pytest.raises(custodian.NotFound):
            session.get(ids[2])
        assert "not found" in session.last_error

        page = session.customers(limit=2)
        assert isinstance(page, custodian.SharePage)
        assert [c.id for c in page] == [ids[0], ids[1]] and page.next == ids[1]
        rest = session.customers(after=page.next, limit=2)
        assert [c.id for c in rest] == [ids[3]] and rest.next is None
        with pytest.raises(custodian.Invalid) as limit:
            session.customers(limit=0)
        assert limit.value.status == custodian.STATUS["INVALID_ARGUMENT"]

        # A withdrawal takes the customer out on the next call.
        shared.clerk.record_consent(ids[3], "acme", "third_party", False, source="call", policy_version="v2")
        with pytest.raises(custodian.NotFound):
            session.get(ids[3])
        assert [c.id for c in session.customers()] == [ids[0], ids[1]]
    with pytest.raises(ValueError):
        session.get(ids[0])  # closed


def test_a_package_opens_with_the_recipients_secret_only(store: custodian.Store, shared: Setup) -> None:
    share = share_of(shared)
    with store.share_session(share.id) as session:
        package = session.package()
    assert isinstance(package, bytes) and package[:8] == b"CUSTSHR1"
    for canary in ["13900000090", "王五", "example.com"]:
        assert canary.encode("utf-8") not in package
    verified = custodian.verify_package(package)
    assert isinstance(verified, custodian.VerifiedPackage)
    manifest = verified.manifest
    assert manifest.format == "custodian-share-package/1" and manifest.share == share.id
    assert manifest.recipient == "acme" and manifest.recipient_key == shared.public.hex()
    assert manifest.fields == ["name", "mobile", "id_number"] and manifest.count == 3
    assert manifest.expires_at == share.expires_at and len(verified.sha256) == 64

    secret = bytearray(shared.secret)
    opened = custodian.open_package(package, secret)
    assert secret == bytearray(32), "a bytearray secret is wiped"
    assert isinstance(opened, custodian.OpenedPackage)
    assert opened.manifest == manifest and opened.sha256 == verified.sha256
    assert [c.id for c in opened.customers] == shared.ids[:2] + [shared.ids[3]]
    first = opened.customers[0]
    assert first.fields == {"name": "王五", "mobile": "13900000090"} and first.withheld == ["id_number"]
    assert opened.customers[1].fields["id_number"] == "11010519491231002X"
    assert "13900000090" not in repr(first), "repr shows no value"

    _, other_public = custodian.generate_recipient_keypair()
    other_secret, _ = custodian.generate_recipient_keypair()
    assert other_public != shared.public
    with pytest.raises(custodian.PackageRejected) as wrong:
        custodian.open_package(package, other_secret)
    assert "another key" in wrong.value.message
    assert wrong.value.status == custodian.STATUS["PACKAGE_REJECTED"]
    with pytest.raises(custodian.PackageRejected):
        custodian.open_package(package[:-1], shared.secret)
    with pytest.raises(custodian.PackageRejected):
        custodian.verify_package(package[:100])
    altered = bytearray(package)
    altered[len(altered) // 2] ^= 0x20
    with pytest.raises(custodian.PackageRejected):
        custodian.open_package(altered, shared.secret)
    with pytest.raises(custodian.PackageRejected):
        custodian.verify_package(bytes(altered))
    with pytest.raises(custodian.PackageRejected):
        custodian.verify_package(b"")
    with pytest.raises(custodian.Invalid) as short:
        custodian.open_package(package, shared.secret[:16])
    assert short.value.status == custodian.STATUS["INVALID_ARGUMENT"]
    with pytest.raises(TypeError):
        custodian.verify_package("CUSTSHR1")  # type: ignore[arg-type]


def test_the_customer_learns_every_disclosure_and_revocation_ends_the_share(
    store: custodian.Store, shared: Setup
) -> None:
    share = share_of(shared)
    ids = shared.ids
    session = store.share_session(share.id)
    session.get(ids[0])
    session.package()

    with pytest.raises(custodian.Denied):
        shared.clerk.customer_shares(ids[0])
    account = shared.compliance.customer_shares(ids[0])
    assert len(account) == 1 and isinstance(account[0], custodian.CustomerShare)
    assert account[0].share == share and account[0].inside_now
    disclosures = account[0].disclosures
    assert [(d.action, d.recipient, d.share) for d in disclosures] == [
        ("share.get", "acme", share.id),
        ("share.package", "acme", share.id),
    ]
    assert disclosures[0].fields == ["mobile", "name"] and disclosures[0].at > 0
    never = shared.compliance.customer_shares(ids[2])
    assert len(never) == 1 and not never[0].inside_now and never[0].disclosures == []

    revoked = shared.admin.revoke_share(share.id, "contract ended")
    assert revoked.revoked is not None and revoked.revoked.reason == "contract ended"
    with pytest.raises(custodian.Denied) as ended:
        session.get(ids[0])
    assert ended.value.rule == "share.revoked"
    with pytest.raises(custodian.Denied):
        session.package()
    with pytest.raises(custodian.Denied) as reopened:
        store.share_session(share.id)
    assert reopened.value.rule == "share.revoked"
    with pytest.raises(custodian.ShareNotFound):
        shared.admin.revoke_share(999, "x")
    with pytest.raises(custodian.Invalid) as twice:
        shared.admin.revoke_share(share.id, "again")
    assert twice.value.rule == "already_revoked"
    assert shared.admin.shares()[0].revoked == revoked.revoked
    # The history stays after the share ended.
    assert len(shared.compliance.customer_shares(ids[0])[0].disclosures) == 2
    session.close()
    session.close()
