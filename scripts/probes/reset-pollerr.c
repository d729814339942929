// Probe behind PollEvents(ringPollMask:) (issue 27): how often a multishot
// io_uring POLL_ADD ends a TCP reset with a completion whose mask is a bare POLLERR,
// the key sock_def_error_report wakes with after tcp_done already set the hang-up.
// The loop thread waits in the ring on CPU 0; a peer on CPU 1 writes a byte and
// resets the connection; every completion's mask is recorded.
//
//   cc -O2 scripts/probes/reset-pollerr.c -o /tmp/reset-pollerr -luring -lpthread
//   /tmp/reset-pollerr        # no setup flags
//   /tmp/reset-pollerr defer  # SINGLE_ISSUER | DEFER_TASKRUN
//
// Kernel 6.18 here, 20,000 resets: 1,797 bare POLLERR completions without
// DEFER_TASKRUN, 48 with. The same probe on epoll (collected masks are polled
// state) never sees one.
#define _GNU_SOURCE
#include <liburing.h>
#include <stdio.h>
#include <stdlib.h>
#include <pthread.h>
#include <sched.h>
#include <unistd.h>
#include <poll.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <stdatomic.h>
static int cfd; static atomic_int go;
static void* closer(void*x){ cpu_set_t s; CPU_ZERO(&s); CPU_SET(1,&s); sched_setaffinity(0,sizeof s,&s);
  for(;;){ while(atomic_load(&go)==0); if(atomic_load(&go)<0) return 0; 
    for(volatile int k=0;k<(rand()%3000);k++);
    write(cfd,"x",1); struct linger lg={1,0}; setsockopt(cfd,SOL_SOCKET,SO_LINGER,&lg,sizeof lg); close(cfd); atomic_store(&go,0);} }
int main(int argc,char**argv){
  cpu_set_t s; CPU_ZERO(&s); CPU_SET(0,&s); sched_setaffinity(0,sizeof s,&s);
  int defer = argc>1;
  struct io_uring ring; struct io_uring_params p={0};
  if(defer) p.flags = IORING_SETUP_SINGLE_ISSUER|IORING_SETUP_DEFER_TASKRUN;
  if(io_uring_queue_init_params(64,&ring,&p)){perror("init");return 1;}
  int l=socket(AF_INET,SOCK_STREAM,0); struct sockaddr_in a={.sin_family=AF_INET,.sin_addr.s_addr=htonl(0x7f000001)};
  bind(l,(void*)&a,sizeof a); listen(l,128); socklen_t al=sizeof a; getsockname(l,(void*)&a,&al);
  pthread_t t; pthread_create(&t,0,closer,0);
  int errOnly=0, total=0, N=20000;
  for(int i=0;i<N;i++){
    int c=socket(AF_INET,SOCK_STREAM,0); connect(c,(void*)&a,sizeof a); int sfd=accept(l,0,0);
    fcntl(sfd,F_SETFL,O_NONBLOCK);
    struct io_uring_sqe*sqe=io_uring_get_sqe(&ring); io_uring_prep_poll_multishot(sqe,sfd,POLLIN|POLLOUT|POLLRDHUP); sqe->user_data=i+1;
    io_uring_submit(&ring);
    struct io_uring_cqe*cqe; io_uring_wait_cqe(&ring,&cqe); io_uring_cqe_seen(&ring,cqe);
    cfd=c; atomic_store(&go,1);
    int masks[16],n=0; struct __kernel_timespec ts={0,3000000};
    while(io_uring_wait_cqe_timeout(&ring,&cqe,&ts)==0){ if(cqe->user_data==(unsigned)(i+1)&&n<16) masks[n++]=cqe->res; io_uring_cqe_seen(&ring,cqe);}
    while(atomic_load(&go)!=0);
    for(int k=0;k<n;k++){ total++; if(masks[k]==POLLERR) errOnly++; }
    if(n>0 && masks[n-1]==POLLERR && errOnly<6){ printf("conn %d:",i); for(int j=0;j<n;j++) printf(" %x",masks[j]); printf("\n"); }
    sqe=io_uring_get_sqe(&ring); io_uring_prep_poll_remove(sqe,i+1); sqe->user_data=0; io_uring_submit(&ring);
    while(io_uring_wait_cqe_timeout(&ring,&cqe,&ts)==0) io_uring_cqe_seen(&ring,cqe);
    close(sfd);
  }
  atomic_store(&go,-1);
  printf("defer=%d conns=%d cqes=%d errOnly=%d\n",defer,N,total,errOnly);
}
