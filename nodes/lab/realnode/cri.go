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
	sock := fmt.Sprintf("unix:///proc/%d/root/run/containerd/containerd.sock", c.cmd.Process.Pid)
	conn, err := grpc.NewClient(sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
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
