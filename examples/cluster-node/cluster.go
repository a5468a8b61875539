package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"reflect"
	"runtime"
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"

	"github.com/nodekit/nodekit/examples/internal/agent"
	"github.com/nodekit/nodekit/stats"
)

// Defaults of clusterOptions.
const (
	defaultHeartbeat = 10 * time.Second // the kubelet's --node-status-update-frequency
	defaultLease     = 40 * time.Second // the kubelet's node lease duration
	defaultMaxPods   = 110
	leaseNamespace   = "kube-node-lease"
)

// clusterOptions configure a clusterNode.
type clusterOptions struct {
	// NodeIPs are the node's addresses, reported as InternalIP.
	NodeIPs []netip.Addr
	// Machine describes the node's hardware for capacity; zero leaves
	// cpu and memory out.
	Machine stats.Machine
	// Heartbeat is how often the Node status and Lease are renewed.
	Heartbeat time.Duration
	// Logger receives errors of API calls; nil discards.
	Logger *slog.Logger
}

// clusterNode is the API server side of a node: it feeds an agent with the
// pods bound to the node (an informer with a spec.nodeName field selector),
// all Services and EndpointSlices, writes the pods' statuses back with status
// patches, deletes pods whose termination is complete, and registers the
// Node object and keeps its Ready condition, capacity and Lease current.
//
// It is safe for concurrent use; Run may be active once.
type clusterNode struct {
	client   kubernetes.Interface
	nodeName string
	agent    *agent.Agent
	opts     clusterOptions
	log      *slog.Logger

	mu       sync.Mutex
	reported map[types.UID]*v1.PodStatus // last status written per pod
	deleting map[types.UID]bool
}

func newClusterNode(client kubernetes.Interface, nodeName string, a *agent.Agent, opts clusterOptions) *clusterNode {
	if opts.Heartbeat <= 0 {
		opts.Heartbeat = defaultHeartbeat
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &clusterNode{client: client, nodeName: nodeName, agent: a, opts: opts, log: opts.Logger,
		reported: map[types.UID]*v1.PodStatus{}, deleting: map[types.UID]bool{}}
}

// Run registers the node, starts the informers and the status writer, and
// keeps the Node and its Lease current until ctx ends.
func (c *clusterNode) Run(ctx context.Context) error {
	if err := c.registerNode(ctx); err != nil {
		return err
	}
	podFactory := informers.NewSharedInformerFactoryWithOptions(c.client, 0, informers.WithTweakListOptions(func(o *metav1.ListOptions) {
		o.FieldSelector = fields.OneTermEqualSelector("spec.nodeName", c.nodeName).String()
	}))
	factory := informers.NewSharedInformerFactory(c.client, 0)
	pods := podFactory.Core().V1().Pods()
	services := factory.Core().V1().Services()
	slices := factory.Discovery().V1().EndpointSlices()
	changed := make(chan struct{}, 1)
	kick := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { notify(changed) },
		UpdateFunc: func(any, any) { notify(changed) },
		DeleteFunc: func(any) { notify(changed) },
	}
	for _, inf := range []cache.SharedIndexInformer{pods.Informer(), services.Informer(), slices.Informer()} {
		if _, err := inf.AddEventHandler(kick); err != nil {
			return err
		}
	}
	podFactory.Start(ctx.Done())
	factory.Start(ctx.Done())
	defer podFactory.Shutdown()
	defer factory.Shutdown()
	for typ, ok := range podFactory.WaitForCacheSync(ctx.Done()) {
		if !ok {
			return fmt.Errorf("cluster-node: %v cache not synced: %w", typ, ctx.Err())
		}
	}
	for typ, ok := range factory.WaitForCacheSync(ctx.Done()) {
		if !ok {
			return fmt.Errorf("cluster-node: %v cache not synced: %w", typ, ctx.Err())
		}
	}
	c.log.Info("caches synced", "node", c.nodeName)

	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); c.writeStatuses(ctx) }()
	go func() { defer wg.Done(); c.heartbeat(ctx) }()
	push := func() {
		all, _ := pods.Lister().List(labels.Everything())
		var mine []*v1.Pod
		for _, p := range all {
			// The field selector already filters; check again, as the
			// kubelet does, since not every source honours it.
			if p.Spec.NodeName == c.nodeName {
				mine = append(mine, p)
			}
		}
		svcs, _ := services.Lister().List(labels.Everything())
		eps, _ := slices.Lister().List(labels.Everything())
		c.agent.SetServices(svcs)
		c.agent.SetEndpointSlices(eps)
		if err := c.agent.SetPods(mine); err != nil {
			c.log.Warn("invalid pods", "err", err)
		}
	}
	push()
	for {
		select {
		case <-ctx.Done():
			wg.Wait()
			return nil
		case <-changed:
			push()
		}
	}
}

func notify(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// writeStatuses writes every status change of the engine to the API
// server as a status patch carrying the pod's UID (so that a pod recreated
// under the same name is never given another pod's status), and deletes
// pods whose termination is complete, as the kubelet's status manager does.
func (c *clusterNode) writeStatuses(ctx context.Context) {
	updates := c.agent.Engine().Subscribe(ctx)
	resync := time.NewTicker(c.opts.Heartbeat)
	defer resync.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case u, ok := <-updates:
			if !ok {
				return
			}
			if u.Deleted {
				c.mu.Lock()
				delete(c.reported, u.UID)
				delete(c.deleting, u.UID)
				c.mu.Unlock()
				continue
			}
			c.syncPod(ctx, u.Namespace, u.Name, u.UID, u.Status)
		case <-resync.C:
			// Retry what failed and finish deletions.
			for _, p := range c.agent.Pods() {
				st := p.Status
				c.syncPod(ctx, p.Namespace, p.Name, p.UID, &st)
			}
		}
	}
}

func (c *clusterNode) syncPod(ctx context.Context, ns, name string, uid types.UID, status *v1.PodStatus) {
	c.mu.Lock()
	last := c.reported[uid]
	c.mu.Unlock()
	if last == nil || !reflect.DeepEqual(last, status) {
		if err := c.patchStatus(ctx, ns, name, uid, status); err != nil {
			c.log.Warn("pod status", "pod", ns+"/"+name, "err", err)
			return
		}
		c.mu.Lock()
		c.reported[uid] = status.DeepCopy()
		c.mu.Unlock()
	}
	c.maybeDelete(ctx, ns, name, uid, status)
}

// patchStatus sends a JSON merge patch of the status subresource.
func (c *clusterNode) patchStatus(ctx context.Context, ns, name string, uid types.UID, status *v1.PodStatus) error {
	patch, err := json.Marshal(map[string]any{
		"metadata": map[string]any{"uid": uid},
		"status":   status,
	})
	if err != nil {
		return err
	}
	_, err = c.client.CoreV1().Pods(ns).Patch(ctx, name, types.MergePatchType, patch, metav1.PatchOptions{}, "status")
	if apierrors.IsNotFound(err) {
		return nil // deleted meanwhile
	}
	return err
}

// maybeDelete deletes a pod the API server asked to delete (deletion
// timestamp set) once none of its containers runs any more: the kubelet's
// final, grace-period-0 delete with a UID precondition.
func (c *clusterNode) maybeDelete(ctx context.Context, ns, name string, uid types.UID, status *v1.PodStatus) {
	var pod *v1.Pod
	for _, p := range c.agent.Pods() {
		if p.UID == uid {
			pod = p
		}
	}
	if pod == nil || pod.DeletionTimestamp == nil {
		return
	}
	for _, cs := range append(append([]v1.ContainerStatus{}, status.InitContainerStatuses...), status.ContainerStatuses...) {
		if cs.State.Running != nil || (cs.State.Terminated == nil && cs.State.Waiting == nil) {
			return
		}
	}
	c.mu.Lock()
	if c.deleting[uid] {
		c.mu.Unlock()
		return
	}
	c.deleting[uid] = true
	c.mu.Unlock()
	err := c.client.CoreV1().Pods(ns).Delete(ctx, name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0), Preconditions: metav1.NewUIDPreconditions(string(uid))})
	if err != nil && !apierrors.IsNotFound(err) {
		c.log.Warn("delete pod", "pod", ns+"/"+name, "err", err)
		c.mu.Lock()
		delete(c.deleting, uid)
		c.mu.Unlock()
	}
}

// nodeStatus is the Node's status as the kubelet reports it: capacity and
// allocatable (no reservations), addresses, the four standard conditions
// with Ready following the agent's health, and node info.
func (c *clusterNode) nodeStatus(now metav1.Time) v1.NodeStatus {
	capacity := v1.ResourceList{v1.ResourcePods: *resource.NewQuantity(defaultMaxPods, resource.DecimalSI)}
	if m := c.opts.Machine; m.NumCores > 0 {
		capacity[v1.ResourceCPU] = *resource.NewQuantity(int64(m.NumCores), resource.DecimalSI)
		capacity[v1.ResourceMemory] = *resource.NewQuantity(int64(m.MemoryCapacityBytes), resource.BinarySI)
	}
	ready, why := c.agent.Healthy()
	readyCond := v1.NodeCondition{Type: v1.NodeReady, Status: v1.ConditionTrue, Reason: "KubeletReady", Message: "nodekit agent is posting ready status"}
	if !ready {
		readyCond = v1.NodeCondition{Type: v1.NodeReady, Status: v1.ConditionFalse, Reason: "KubeletNotReady", Message: why}
	}
	conds := []v1.NodeCondition{
		{Type: v1.NodeMemoryPressure, Status: v1.ConditionFalse, Reason: "KubeletHasSufficientMemory", Message: "kubelet has sufficient memory available"},
		{Type: v1.NodeDiskPressure, Status: v1.ConditionFalse, Reason: "KubeletHasNoDiskPressure", Message: "kubelet has no disk pressure"},
		{Type: v1.NodePIDPressure, Status: v1.ConditionFalse, Reason: "KubeletHasSufficientPID", Message: "kubelet has sufficient PID available"},
		readyCond,
	}
	for i := range conds {
		conds[i].LastHeartbeatTime = now
		conds[i].LastTransitionTime = now
	}
	addrs := []v1.NodeAddress{}
	for _, ip := range c.opts.NodeIPs {
		addrs = append(addrs, v1.NodeAddress{Type: v1.NodeInternalIP, Address: ip.String()})
	}
	addrs = append(addrs, v1.NodeAddress{Type: v1.NodeHostName, Address: c.nodeName})
	return v1.NodeStatus{
		Capacity:    capacity,
		Allocatable: capacity.DeepCopy(),
		Conditions:  conds,
		Addresses:   addrs,
		NodeInfo: v1.NodeSystemInfo{
			MachineID: c.opts.Machine.MachineID, SystemUUID: c.opts.Machine.SystemUUID, BootID: c.opts.Machine.BootID,
			KernelVersion: c.opts.Machine.KernelVersion, OperatingSystem: runtime.GOOS, Architecture: runtime.GOARCH,
			ContainerRuntimeVersion: "runc://", KubeletVersion: "nodekit",
		},
	}
}

// registerNode creates the Node object, or takes over an existing one of
// the same name (a restarted agent), as the kubelet's registration does.
func (c *clusterNode) registerNode(ctx context.Context) error {
	node := &v1.Node{ObjectMeta: metav1.ObjectMeta{Name: c.nodeName, Labels: map[string]string{
		v1.LabelHostname: c.nodeName, v1.LabelOSStable: runtime.GOOS, v1.LabelArchStable: runtime.GOARCH,
	}}}
	_, err := c.client.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("cluster-node: register node %s: %w", c.nodeName, err)
	}
	return c.updateNode(ctx)
}

// updateNode writes the Node's status (merge patch: the conditions and
// addresses the agent reports replace the previous ones) and renews its
// Lease.
func (c *clusterNode) updateNode(ctx context.Context) error {
	now := metav1.Now()
	status := c.nodeStatus(now)
	// Keep the transition time of conditions whose status did not change.
	if old, err := c.client.CoreV1().Nodes().Get(ctx, c.nodeName, metav1.GetOptions{}); err == nil {
		for i := range status.Conditions {
			for _, oc := range old.Status.Conditions {
				if oc.Type == status.Conditions[i].Type && oc.Status == status.Conditions[i].Status && !oc.LastTransitionTime.IsZero() {
					status.Conditions[i].LastTransitionTime = oc.LastTransitionTime
				}
			}
		}
	}
	patch, err := json.Marshal(map[string]any{"status": status})
	if err != nil {
		return err
	}
	var errs []error
	if _, err := c.client.CoreV1().Nodes().Patch(ctx, c.nodeName, types.MergePatchType, patch, metav1.PatchOptions{}, "status"); err != nil {
		errs = append(errs, fmt.Errorf("node status: %w", err))
	}
	errs = append(errs, c.renewLease(ctx, now))
	return errors.Join(errs...)
}

// renewLease creates or renews the node's Lease in kube-node-lease, which
// the node lifecycle controller watches.
func (c *clusterNode) renewLease(ctx context.Context, now metav1.Time) error {
	leases := c.client.CoordinationV1().Leases(leaseNamespace)
	renew := metav1.NewMicroTime(now.Time)
	l, err := leases.Get(ctx, c.nodeName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		_, err = leases.Create(ctx, &coordinationv1.Lease{
			ObjectMeta: metav1.ObjectMeta{Name: c.nodeName, Namespace: leaseNamespace},
			Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To(c.nodeName), LeaseDurationSeconds: ptr.To(int32(defaultLease / time.Second)),
				RenewTime: &renew},
		}, metav1.CreateOptions{})
		if err != nil {
			return fmt.Errorf("node lease: %w", err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("node lease: %w", err)
	}
	l.Spec.RenewTime = &renew
	l.Spec.HolderIdentity = ptr.To(c.nodeName)
	if _, err := leases.Update(ctx, l, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("node lease: %w", err)
	}
	return nil
}

func (c *clusterNode) heartbeat(ctx context.Context) {
	t := time.NewTicker(c.opts.Heartbeat)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := c.updateNode(ctx); err != nil && ctx.Err() == nil {
				c.log.Warn("node heartbeat", "err", err)
			}
		}
	}
}
