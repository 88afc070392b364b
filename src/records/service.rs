//! After-sales service records: kinds, priorities and statuses, which
//! status changes are allowed, and the service-level policy that sets each
//! record's due time.

use std::collections::BTreeMap;

use crate::error::{Error, Result};

named_enum!(
    /// What a service record is about.
    ServiceKind, "kind", "service_kind" {
        /// A question.
        Consultation = "consultation",
        /// A complaint.
        Complaint = "complaint",
        /// Feedback or a suggestion.
        Feedback = "feedback",
        /// A repair or return.
        Repair = "repair",
        /// Anything else.
        Other = "other",
    }
);

named_enum!(
    /// How the customer reached us.
    ServiceChannel, "channel", "service_channel" {
        /// By telephone.
        Phone = "phone",
        /// By e-mail.
        Email = "email",
        /// Through the website or app.
        Web = "web",
        /// Through WeChat.
        Wechat = "wechat",
        /// In person, at a counter or shop.
        InPerson = "in_person",
        /// By letter.
        Letter = "letter",
        /// Anything else.
        Other = "other",
    }
);

named_enum!(
    /// How urgent a service record is.
    Priority, "priority", "service_priority" {
        /// Low.
        Low = "low",
        /// Normal.
        Normal = "normal",
        /// High.
        High = "high",
        /// Urgent.
        Urgent = "urgent",
    }
);

named_enum!(
    /// Where a service record stands: `open` → `in_progress` → `resolved`
    /// → `closed`, and `reopened` after a resolution or closing.
    ServiceStatus, "status", "service_status" {
        /// Received, not yet worked on.
        Open = "open",
        /// Being worked on.
        InProgress = "in_progress",
        /// A resolution was given; the customer may still object.
        Resolved = "resolved",
        /// Finished.
        Closed = "closed",
        /// Opened again after a resolution or closing.
        Reopened = "reopened",
    }
);

impl ServiceStatus {
    /// Whether the record still awaits a resolution (so its due time counts).
    pub fn is_pending(self) -> bool {
        !matches!(self, ServiceStatus::Resolved | ServiceStatus::Closed)
    }
}

const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 24 * HOUR_MS;

/// The service-level policy: hours to resolve by kind and priority, and how
/// long after closing a record may be reopened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceLevelPolicy {
    hours: BTreeMap<(ServiceKind, Priority), u32>,
    reopen_within_days: u32,
}

impl Default for ServiceLevelPolicy {
    /// Complaints within 48 hours at normal priority (24 high, 8 urgent, 72
    /// low); consultations within a day; repairs within three days;
    /// feedback within a week; reopening within 30 days of closing.
    fn default() -> Self {
        use Priority::*;
        use ServiceKind::*;
        let mut hours = BTreeMap::new();
        for (kind, [low, normal, high, urgent]) in [
            (Consultation, [48, 24, 8, 4]),
            (Complaint, [72, 48, 24, 8]),
            (Feedback, [336, 168, 72, 24]),
            (Repair, [120, 72, 48, 24]),
            (Other, [168, 72, 48, 24]),
        ] {
            for (priority, h) in [(Low, low), (Normal, normal), (High, high), (Urgent, urgent)] {
                hours.insert((kind, priority), h);
            }
        }
        ServiceLevelPolicy { hours, reopen_within_days: 30 }
    }
}

impl ServiceLevelPolicy {
    /// Sets the hours to resolve records of `kind` at `priority` (at least 1).
    pub fn hours(mut self, kind: ServiceKind, priority: Priority, hours: u32) -> Result<Self> {
        if hours == 0 {
            return Err(Error::out_of_range("hours", "service_hours", "a service level gives at least one hour"));
        }
        self.hours.insert((kind, priority), hours);
        Ok(self)
    }

    /// Sets how many days after closing a record may be reopened (0: never).
    pub fn reopen_within_days(mut self, days: u32) -> Self {
        self.reopen_within_days = days;
        self
    }

    /// When a record of `kind` at `priority` opened at `opened_at` (Unix ms) is due.
    pub fn due_at(&self, kind: ServiceKind, priority: Priority, opened_at: i64) -> Result<i64> {
        let hours = self.hours.get(&(kind, priority)).copied().unwrap_or(72);
        opened_at
            .checked_add(i64::from(hours) * HOUR_MS)
            .ok_or_else(|| Error::out_of_range("opened_at", "time_overflow", "the opening time is out of range"))
    }

    /// Checks a due time given explicitly instead of the policy's.
    pub fn check_due(&self, opened_at: i64, due_at: i64) -> Result<()> {
        if due_at <= opened_at {
            return Err(Error::invalid("due_at", "due_before_opening", "a record cannot be due before it was opened"));
        }
        Ok(())
    }

    /// Checks the change of a record from `from` to `to` at `now`:
    /// resolving or closing needs a resolution text (`has_resolution`), and
    /// a closed record reopens only within the policy's days of
    /// `closed_at`. `Err` names the rule: `transition_invalid`,
    /// `resolution_required` or `reopen_expired`.
    pub fn check_transition(
        &self,
        from: ServiceStatus,
        to: ServiceStatus,
        has_resolution: bool,
        closed_at: Option<i64>,
        now: i64,
    ) -> Result<()> {
        use ServiceStatus::*;
        let allowed = match from {
            Open | Reopened => matches!(to, InProgress | Resolved | Closed),
            InProgress => matches!(to, Open | Resolved | Closed),
            Resolved => matches!(to, Closed | Reopened),
            Closed => to == Reopened,
        };
        if !allowed {
            return Err(Error::invalid(
                "status",
                "transition_invalid",
                format!("a record cannot go from {} to {}", from.name(), to.name()),
            ));
        }
        if matches!(to, Resolved | Closed) && !has_resolution {
            return Err(Error::invalid(
                "resolution",
                "resolution_required",
                format!("a record is {} only with a resolution", to.name()),
            ));
        }
        if from == Closed {
            let closed = closed_at.unwrap_or(i64::MIN);
            let days = self.reopen_within_days;
            if days == 0 || now.saturating_sub(closed) > i64::from(days) * DAY_MS {
                return Err(Error::invalid(
                    "status",
                    "reopen_expired",
                    format!("a record closed more than {} days ago cannot be reopened", self.reopen_within_days),
                ));
            }
        }
        Ok(())
    }
}

/// A service record to open for a customer.
#[derive(Debug, Clone)]
pub struct ServiceInput {
    /// What it is about.
    pub kind: ServiceKind,
    /// How the customer reached us.
    pub channel: ServiceChannel,
    /// A one-line summary (1-200 characters).
    pub subject: String,
    /// What the customer said (up to 4000 characters; sealed).
    pub description: String,
    /// How urgent it is (default `normal`).
    pub priority: Priority,
    /// The principal who handles it (registered and active), if assigned now.
    pub owner: Option<String>,
    /// When it was opened (Unix ms); `None`: now. Not in the future.
    pub opened_at: Option<i64>,
    /// When it is due (Unix ms), overriding the service-level policy; after the opening.
    pub due_at: Option<i64>,
}

impl ServiceInput {
    /// A record of `kind` reaching us by `channel`, at normal priority, unassigned.
    pub fn new(kind: ServiceKind, channel: ServiceChannel, subject: &str, description: &str) -> Self {
        ServiceInput {
            kind,
            channel,
            subject: subject.to_owned(),
            description: description.to_owned(),
            priority: Priority::Normal,
            owner: None,
            opened_at: None,
            due_at: None,
        }
    }

    /// Sets the priority.
    pub fn priority(mut self, priority: Priority) -> Self {
        self.priority = priority;
        self
    }

    /// Assigns it to principal `owner`.
    pub fn owner(mut self, owner: &str) -> Self {
        self.owner = Some(owner.to_owned());
        self
    }

    /// Sets the opening time (Unix ms).
    pub fn opened_at(mut self, at: i64) -> Self {
        self.opened_at = Some(at);
        self
    }

    /// Sets the due time (Unix ms), overriding the policy.
    pub fn due_at(mut self, at: i64) -> Self {
        self.due_at = Some(at);
        self
    }
}

/// Whether a record in `status` due at `due_at` is overdue at `now`.
pub fn is_overdue(status: ServiceStatus, due_at: i64, now: i64) -> bool {
    status.is_pending() && now > due_at
}

#[cfg(test)]
mod tests {
    use super::*;
    use ServiceStatus::*;

    fn rule(e: Error) -> &'static str {
        match e {
            Error::Invalid { rule, .. } | Error::InvalidArgument { rule, .. } => rule,
            other => panic!("{other}"),
        }
    }

    #[test]
    fn names_round_trip_and_unknown_ones_are_refused() {
        for kind in ServiceKind::ALL {
            assert_eq!(ServiceKind::parse(kind.name()).unwrap(), *kind);
        }
        for status in ServiceStatus::ALL {
            assert_eq!(ServiceStatus::parse(status.name()).unwrap(), *status);
        }
        let e = Priority::parse("whenever").unwrap_err();
        assert!(e.to_string().contains("low, normal, high, urgent"), "{e}");
        assert_eq!(rule(e), "service_priority");
    }

    /// The golden deadline test on a fixed clock: opened, due, overdue,
    /// resolved, closed, reopened.
    #[test]
    fn a_complaint_is_due_in_48_hours_and_its_life_follows_the_rules() {
        let policy = ServiceLevelPolicy::default();
        let opened = 1_800_000_000_000;
        let due = policy.due_at(ServiceKind::Complaint, Priority::Normal, opened).unwrap();
        assert_eq!(due - opened, 48 * HOUR_MS);
        assert_eq!(policy.due_at(ServiceKind::Complaint, Priority::Urgent, opened).unwrap() - opened, 8 * HOUR_MS);
        assert!(!is_overdue(Open, due, due), "due at, not past");
        assert!(is_overdue(InProgress, due, due + 1));
        assert!(!is_overdue(Resolved, due, due + DAY_MS), "a resolved record is not overdue");
        policy.check_transition(Open, InProgress, false, None, opened + HOUR_MS).unwrap();
        assert_eq!(
            rule(policy.check_transition(InProgress, Resolved, false, None, opened).unwrap_err()),
            "resolution_required"
        );
        assert_eq!(
            rule(policy.check_transition(Open, Closed, false, None, opened).unwrap_err()),
            "resolution_required"
        );
        policy.check_transition(InProgress, Resolved, true, None, opened + 2 * HOUR_MS).unwrap();
        policy.check_transition(Resolved, Closed, true, None, opened + 3 * HOUR_MS).unwrap();
        let closed = opened + 3 * HOUR_MS;
        policy.check_transition(Closed, Reopened, true, Some(closed), closed + 29 * DAY_MS).unwrap();
        assert_eq!(
            rule(policy.check_transition(Closed, Reopened, true, Some(closed), closed + 31 * DAY_MS).unwrap_err()),
            "reopen_expired"
        );
        assert_eq!(
            rule(policy.check_transition(Closed, InProgress, true, Some(closed), closed).unwrap_err()),
            "transition_invalid"
        );
        assert_eq!(rule(policy.check_transition(Open, Open, false, None, opened).unwrap_err()), "transition_invalid");
        assert_eq!(
            rule(policy.check_transition(Resolved, Open, true, None, opened).unwrap_err()),
            "transition_invalid"
        );
        assert_eq!(rule(policy.check_due(opened, opened - 1).unwrap_err()), "due_before_opening");
        assert_eq!(
            rule(policy.due_at(ServiceKind::Complaint, Priority::Normal, i64::MAX).unwrap_err()),
            "time_overflow"
        );
    }

    #[test]
    fn the_policy_is_configurable() {
        let policy =
            ServiceLevelPolicy::default().hours(ServiceKind::Repair, Priority::High, 6).unwrap().reopen_within_days(0);
        assert_eq!(policy.due_at(ServiceKind::Repair, Priority::High, 0).unwrap(), 6 * HOUR_MS);
        assert_eq!(
            rule(ServiceLevelPolicy::default().hours(ServiceKind::Repair, Priority::High, 0).unwrap_err()),
            "service_hours"
        );
        assert_eq!(
            rule(policy.check_transition(Closed, Reopened, true, Some(0), DAY_MS).unwrap_err()),
            "reopen_expired"
        );
    }
}
