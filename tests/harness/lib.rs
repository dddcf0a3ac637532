//! Berth's local control plane (etcd, kube-apiserver, kube-controller-manager,
//! kube-scheduler and kwok, built from Go modules) and the fixtures end-to-end
//! tests share.
pub mod argocd;
pub mod bench;
pub mod demo;
pub mod fixture;
pub mod kubectl;
pub mod plane;
