//! Task roles → ServiceAccounts Berth makes. A task runs as the ServiceAccount
//! named after its role (`render::identity`); Berth makes that ServiceAccount
//! when none exists, owned by every TaskDefinition using the role (so the
//! garbage collector removes it with the last of them), annotated so that the
//! cluster's workload identity (IRSA by default) gives the task the real IAM
//! role. A ServiceAccount without Berth's managed-by label is the user's and is
//! never changed. Pure: the controller reads, calls these and acts.
use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ServiceAccount;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};

use super::labels;
use crate::ecs::render::identity::service_account_name;

/// IRSA's annotation: EKS's webhook gives pods of this ServiceAccount the role.
pub const IRSA_ROLE_ARN: &str = "eks.amazonaws.com/role-arn";

/// The ServiceAccount a role needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Wanted {
    pub name: String,
    pub annotations: BTreeMap<String, String>,
}

/// The ServiceAccounts for `roles` (role ARNs or names), each annotated with
/// its role under every key of `annotation_keys`. Only a full ARN is written:
/// a bare role name means nothing to IRSA without the account. Two roles with
/// the same last path segment share one ServiceAccount; the first one wins.
pub fn wanted<'a>(roles: impl IntoIterator<Item = &'a str>, annotation_keys: &[String]) -> BTreeMap<String, Wanted> {
    let mut wanted = BTreeMap::new();
    for role in roles {
        let name = service_account_name(role);
        let annotations = if role.starts_with("arn:") {
            annotation_keys.iter().map(|key| (key.clone(), role.to_string())).collect()
        } else {
            BTreeMap::new()
        };
        wanted.entry(name.clone()).or_insert(Wanted { name, annotations });
    }
    wanted
}

/// The task roles a stored task definition spec (as JSON) uses.
pub fn role_of(spec: &serde_json::Value) -> Option<&str> {
    spec.get("taskRoleArn")?.as_str().filter(|r| !r.is_empty())
}

/// What to do about one wanted ServiceAccount.
#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    Create(Box<ServiceAccount>),
    /// Berth's, but missing this owner or an annotation: a strategic merge
    /// patch (owner references merge by uid, so other owners stay).
    Patch(serde_json::Value),
    /// Berth's and as wanted.
    Nothing,
    /// Made by someone else: left alone.
    NotBerths,
    /// Berth's, but for another role whose name ends the same: left as it is
    /// (overwriting would take the role from the other's tasks).
    OtherRole(String),
}

/// Is this ServiceAccount one Berth made?
pub fn is_berths(sa: &ServiceAccount) -> bool {
    sa.metadata.labels.as_ref().and_then(|l| l.get(labels::MANAGED_BY)).map(String::as_str) == Some(labels::MANAGED_BY_VALUE)
}

pub fn step(existing: Option<&ServiceAccount>, wanted: &Wanted, owner: &OwnerReference) -> Step {
    let Some(sa) = existing else {
        return Step::Create(Box::new(ServiceAccount {
            metadata: ObjectMeta {
                name: Some(wanted.name.clone()),
                labels: Some(BTreeMap::from([(labels::MANAGED_BY.to_string(), labels::MANAGED_BY_VALUE.to_string())])),
                annotations: Some(wanted.annotations.clone()).filter(|a| !a.is_empty()),
                owner_references: Some(vec![owner.clone()]),
                ..ObjectMeta::default()
            },
            ..ServiceAccount::default()
        }));
    };
    if !is_berths(sa) {
        return Step::NotBerths;
    }
    let owned = sa.metadata.owner_references.iter().flatten().any(|o| o.uid == owner.uid);
    let current = sa.metadata.annotations.clone().unwrap_or_default();
    if let Some(other) = wanted.annotations.iter().find_map(|(k, v)| current.get(k).filter(|c| *c != v)) {
        return Step::OtherRole(other.clone());
    }
    let annotated = wanted.annotations.iter().all(|(k, v)| current.get(k) == Some(v));
    if owned && annotated {
        return Step::Nothing;
    }
    Step::Patch(serde_json::json!({"metadata": {"ownerReferences": [owner], "annotations": wanted.annotations}}))
}

/// What to do about a ServiceAccount of Berth's that `owner` no longer needs.
#[derive(Clone, Debug, PartialEq)]
pub enum Release {
    /// `owner` was its last owner: delete it (if unchanged since read).
    Delete { resource_version: Option<String> },
    /// Others still use it: only drop `owner` from its owner references.
    DropOwner(serde_json::Value),
}

pub fn release(sa: &ServiceAccount, owner_uid: &str) -> Option<Release> {
    let owners = sa.metadata.owner_references.as_deref().unwrap_or_default();
    if !is_berths(sa) || !owners.iter().any(|o| o.uid == owner_uid) {
        return None;
    }
    if owners.iter().all(|o| o.uid == owner_uid) {
        return Some(Release::Delete { resource_version: sa.metadata.resource_version.clone() });
    }
    Some(Release::DropOwner(serde_json::json!({"metadata": {"ownerReferences": [{"$patch": "delete", "uid": owner_uid}]}})))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARN: &str = "arn:aws:iam::123456789012:role/app/OrderService";

    fn owner(uid: &str) -> OwnerReference {
        OwnerReference { api_version: "berth.dev/v1alpha1".into(), kind: "TaskDefinition".into(), name: format!("td-{uid}"), uid: uid.into(), ..OwnerReference::default() }
    }

    fn keys() -> Vec<String> {
        vec![IRSA_ROLE_ARN.to_string()]
    }

    fn created(uid: &str) -> ServiceAccount {
        let Step::Create(sa) = step(None, &wanted([ARN], &keys())["orderservice"], &owner(uid)) else { panic!("a create") };
        *sa
    }

    #[test]
    fn a_missing_service_account_is_created_labelled_owned_and_annotated_with_the_role() {
        let sa = created("a");
        assert_eq!(sa.metadata.name.as_deref(), Some("orderservice"));
        assert!(is_berths(&sa));
        assert_eq!(sa.metadata.annotations.unwrap()[IRSA_ROLE_ARN], ARN);
        assert_eq!(sa.metadata.owner_references.unwrap(), vec![owner("a")]);
    }

    #[test]
    fn annotation_keys_come_from_configuration_and_bare_role_names_get_none() {
        let keys = vec!["a.example/role".to_string(), "b.example/role".to_string()];
        let both = wanted([ARN, "WebRole"], &keys);
        assert_eq!(both["orderservice"].annotations.keys().collect::<Vec<_>>(), ["a.example/role", "b.example/role"]);
        assert!(both["webrole"].annotations.is_empty());
        assert!(wanted([ARN], &[])["orderservice"].annotations.is_empty());
    }

    #[test]
    fn a_users_service_account_is_never_touched() {
        let users = ServiceAccount { metadata: ObjectMeta { name: Some("orderservice".into()), ..ObjectMeta::default() }, ..ServiceAccount::default() };
        assert_eq!(step(Some(&users), &wanted([ARN], &keys())["orderservice"], &owner("a")), Step::NotBerths);
        assert_eq!(release(&users, "a"), None);
    }

    #[test]
    fn a_second_owner_is_added_by_patch_and_an_up_to_date_one_left_alone() {
        let sa = created("a");
        let role = &wanted([ARN], &keys())["orderservice"];
        assert_eq!(step(Some(&sa), role, &owner("a")), Step::Nothing);
        let Step::Patch(patch) = step(Some(&sa), role, &owner("b")) else { panic!("a patch") };
        assert_eq!(patch["metadata"]["ownerReferences"][0]["uid"], "b");
    }

    #[test]
    fn a_service_account_of_another_role_with_the_same_name_is_not_taken_over() {
        let sa = created("a");
        let other = &wanted(["arn:aws:iam::210987654321:role/OrderService"], &keys())["orderservice"];
        assert_eq!(step(Some(&sa), other, &owner("b")), Step::OtherRole(ARN.to_string()));
    }

    #[test]
    fn the_last_owner_deletes_others_only_step_out() {
        let mut sa = created("a");
        sa.metadata.resource_version = Some("7".into());
        assert_eq!(release(&sa, "a"), Some(Release::Delete { resource_version: Some("7".into()) }));
        assert_eq!(release(&sa, "z"), None);
        sa.metadata.owner_references.as_mut().unwrap().push(owner("b"));
        let Some(Release::DropOwner(patch)) = release(&sa, "a") else { panic!("drop the owner") };
        assert_eq!(patch["metadata"]["ownerReferences"][0], serde_json::json!({"$patch": "delete", "uid": "a"}));
    }

    #[test]
    fn roles_are_read_from_stored_specs() {
        assert_eq!(role_of(&serde_json::json!({"taskRoleArn": ARN})), Some(ARN));
        assert_eq!(role_of(&serde_json::json!({"taskRoleArn": ""})), None);
        assert_eq!(role_of(&serde_json::json!({})), None);
    }
}
