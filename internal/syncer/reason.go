package syncer

// BoundedReason is a peer's reason as it may be kept and shown (see
// boundedReason): for the reasons a device is told outside the sync
// frames (a node's answer to a removal request).
func BoundedReason(s string) string { return boundedReason(s) }
