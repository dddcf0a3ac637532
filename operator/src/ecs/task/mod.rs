//! A task is a Pod: the labels and annotations Berth puts on task pods, and
//! how a pod's state reads as an ECS task's state, and the compact form of
//! a task pod Berth keeps.
pub mod labels;
pub mod lifecycle;
pub mod reference;
pub mod observed;
pub mod pod;
pub mod roles;
pub mod wake;
