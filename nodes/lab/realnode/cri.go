package realnode

import (
	"context"
	"fmt"
	"sort"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// Container is one CRI container as `crictl ps -a` shows it.
type Container struct {
	ID, Name, Pod, Image string
	State                runtimeapi.ContainerState
	Created              time.Time
	Attempt              uint32
}

// Containers lists the node's containers through the CRI API of its
// containerd (what crictl calls), reaching the socket inside the node's
// /run through containerd's /proc root.
func (c *Containerd) Containers(ctx context.Context) ([]Container, error) {
	conn, err := c.dial()
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	resp, err := runtimeapi.NewRuntimeServiceClient(conn).ListContainers(ctx, &runtimeapi.ListContainersRequest{})
	if err != nil {
		return nil, fmt.Errorf("CRI ListContainers: %w", err)
	}
	var out []Container
	for _, ct := range resp.Containers {
		out = append(out, Container{
			ID: ct.Id, Name: ct.GetMetadata().GetName(), Attempt: ct.GetMetadata().GetAttempt(),
			Pod: ct.Labels["io.kubernetes.pod.name"], Image: ct.GetImage().GetImage(),
			State: ct.State, Created: time.Unix(0, ct.CreatedAt),
		})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Created.Before(out[j].Created) })
	return out, nil
}

// Running returns the names of the running containers.
func Running(cs []Container) map[string]bool {
	m := map[string]bool{}
	for _, c := range cs {
		if c.State == runtimeapi.ContainerState_CONTAINER_RUNNING {
			m[c.Name] = true
		}
	}
	return m
}

func (c *Containerd) dial() (*grpc.ClientConn, error) {
	sock := fmt.Sprintf("unix:///proc/%d/root/run/containerd/containerd.sock", c.cmd.Process.Pid)
	return grpc.NewClient(sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
}

// Times is when a container started and finished (zero: not yet), as the
// CRI's ContainerStatus reports them (`crictl inspect`).
func (c *Containerd) Times(ctx context.Context, id string) (started, finished time.Time, err error) {
	conn, err := c.dial()
	if err != nil {
		return started, finished, err
	}
	defer conn.Close()
	resp, err := runtimeapi.NewRuntimeServiceClient(conn).ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: id})
	if err != nil {
		return started, finished, fmt.Errorf("CRI ContainerStatus %s: %w", id, err)
	}
	st := resp.GetStatus()
	if v := st.GetStartedAt(); v > 0 {
		started = time.Unix(0, v)
	}
	if v := st.GetFinishedAt(); v > 0 {
		finished = time.Unix(0, v)
	}
	return started, finished, nil
}
