//! Consent: marketing sessions see only customers who currently consent on
//! their channel; a withdrawal takes effect on the very next call.

mod common;

use common::*;
use custodian::access::rules;
use custodian::consent::{Channel, ConsentChange};
use custodian::{AuthContext, CustomerId, Error, ListQuery, Purpose, Role, SearchQuery, Session, Store};

fn change(channel: Channel, granted: bool) -> ConsentChange {
    ConsentChange {
        purpose: Purpose::Marketing,
        channel,
        granted,
        source: "web_form".into(),
        policy_version: "2026-01".into(),
    }
}

fn marketer(store: &Store, channel: Channel) -> Session {
    store.marketing_session("marketer", channel, AuthContext::single_factor()).unwrap()
}

fn listed(s: &Session) -> Vec<CustomerId> {
    let mut ids: Vec<CustomerId> = s.list(&ListQuery::new().limit(100)).unwrap().items.iter().map(|v| v.id).collect();
    ids.sort();
    ids
}

#[test]
fn marketing_sees_only_consenting_customers_and_withdrawal_is_immediate() {
    for (name, store, _guard) in stores() {
        let a = admin(&store);
        let ids: Vec<CustomerId> = (1..=4).map(|i| a.create(sample(i)).unwrap().id).collect();
        let clerk = service(&store);
        clerk.record_consent(ids[0], &change(Channel::Sms, true)).unwrap();
        clerk.record_consent(ids[1], &change(Channel::Sms, true)).unwrap();
        clerk.record_consent(ids[2], &change(Channel::Email, true)).unwrap();

        let sms = marketer(&store, Channel::Sms);
        let email = marketer(&store, Channel::Email);
        assert_eq!(listed(&sms), vec![ids[0], ids[1]], "{name}");
        assert_eq!(listed(&email), vec![ids[2]], "{name}");
        assert_eq!(sms.list(&ListQuery::new()).unwrap().total, 2, "{name}: totals count only the visible");
        let filtered = sms.list(&ListQuery::new().filter(custodian::Filter::new().tier("A"))).unwrap();
        assert_eq!(filtered.total, 2, "{name}: the filtered path applies consent too");
        assert!(sms.get(ids[0]).is_ok(), "{name}");
        let err = sms.get(ids[2]).unwrap_err();
        assert!(matches!(&err, Error::Denied { rule: rules::MARKETING_CONSENT_REQUIRED, .. }), "{name}: {err}");
        assert!(err.to_string().contains("sms"), "{name}: the reason names the channel");
        assert!(sms.find_by_mobile("13900000003").unwrap().is_empty(), "{name}: absent from lookups");
        assert_eq!(email.find_by_mobile("13900000003").unwrap().len(), 1, "{name}");
        assert_eq!(sms.search(&SearchQuery::new("王五")).unwrap().total, 2, "{name}: absent from searches");

        // Withdrawal takes effect on the next call of an already open session.
        clerk.record_consent(ids[1], &change(Channel::Sms, false)).unwrap();
        assert_eq!(listed(&sms), vec![ids[0]], "{name}");
        assert!(sms.get(ids[1]).is_err(), "{name}");
        // Granting again brings the customer back.
        clerk.record_consent(ids[1], &change(Channel::Sms, true)).unwrap();
        assert_eq!(listed(&sms), vec![ids[0], ids[1]], "{name}");

        // Service for an existing contract needs no marketing consent.
        assert_eq!(listed(&clerk).len(), 4, "{name}");
        // A marketing session that names no channel sees nobody.
        let no_channel = store.session(principal(&store, "m2", Role::Marketing), Purpose::Marketing).unwrap();
        assert!(listed(&no_channel).is_empty(), "{name}");
        assert!(no_channel.get(ids[0]).is_err(), "{name}");
    }
}

#[test]
fn consent_records_keep_their_history_and_are_audited() {
    for (name, store, _guard) in stores() {
        let id = admin(&store).create(sample(1)).unwrap().id;
        let clerk = service(&store);
        clerk.record_consent(id, &change(Channel::Email, true)).unwrap();
        let mut withdrawn = change(Channel::Email, false);
        withdrawn.source = "call".into();
        clerk.record_consent(id, &withdrawn).unwrap();
        let history = clerk.consents(id).unwrap();
        assert_eq!(history.len(), 2, "{name}");
        assert!(history[0].granted && !history[1].granted, "{name}");
        assert_eq!((history[1].source.as_str(), history[1].recorded_by.as_str()), ("call", "clerk"), "{name}");
        assert_eq!(history[1].policy_version, "2026-01", "{name}");

        let mut bad = change(Channel::Sms, true);
        bad.source = "web form; DROP".into();
        assert!(matches!(clerk.record_consent(id, &bad), Err(Error::Invalid { rule: "consent_text", .. })), "{name}");
        assert!(matches!(
            clerk.record_consent(CustomerId(999), &change(Channel::Sms, true)),
            Err(Error::CustomerNotFound(_))
        ));
        let m = marketer(&store, Channel::Sms);
        assert!(matches!(m.record_consent(id, &change(Channel::Sms, true)), Err(Error::Denied { .. })), "{name}");

        let auditor = store.session("auditor", Purpose::Compliance).unwrap();
        let entries = auditor.audit_entries(&custodian::AuditQuery::new().customer(id)).unwrap();
        let recorded: Vec<_> = entries
            .iter()
            .filter(|e| e.action == "consent.record" && e.outcome == custodian::Outcome::Allowed)
            .collect();
        assert_eq!(recorded.len(), 2, "{name}");
        assert_eq!(recorded[0].changed, vec!["consent.marketing.email".to_owned()], "{name}");

        // Deleting the customer deletes its consent records.
        admin(&store).delete(id).unwrap();
        let other = admin(&store).create(sample(2)).unwrap().id;
        assert!(clerk.consents(other).unwrap().is_empty(), "{name}");
    }
}
