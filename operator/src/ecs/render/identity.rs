//! Task role → ServiceAccount.
//!
//! Convention: a task runs as the ServiceAccount named after its IAM role, the last path
//! segment of the role ARN sanitised with [`dns_subdomain`]
//! (`arn:aws:iam::123456789012:role/app/OrderService` → `orderservice`). On EKS, annotate
//! that ServiceAccount with `eks.amazonaws.com/role-arn` (IRSA) or use Pod Identity to give
//! the task the real role.

use super::names::dns_subdomain;

/// The ServiceAccount for a task role ARN (or a bare role name).
pub fn service_account_name(task_role_arn: &str) -> String {
    let role = task_role_arn
        .rsplit(['/', ':'])
        .next()
        .unwrap_or(task_role_arn);
    dns_subdomain(role)
}

#[cfg(test)]
mod tests {
    use super::service_account_name;

    #[test]
    fn last_segment_of_the_role_arn() {
        assert_eq!(
            service_account_name("arn:aws:iam::123456789012:role/app/Order_Service"),
            "order-service"
        );
        assert_eq!(
            service_account_name("arn:aws:iam::123456789012:role/web"),
            "web"
        );
    }

    #[test]
    fn bare_role_names() {
        assert_eq!(service_account_name("WebRole"), "webrole");
    }
}
