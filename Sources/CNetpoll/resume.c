// Resuming a loop-isolated task straight onto its loop (see LoopResume.swift), and
// the running task read from the runtime. Swift calls these through RuntimeHooks
// only; what each runtime symbol here saves and how a toolchain update would break
// it: docs/runtime-tricks.md (#enqueue-hook, #current-task).
//
// A task isolated to an EventLoop's LoopIsolation actor (and with no executor
// preference) that parks in a PollDesc is resumed through its UnsafeContinuation.
// The runtime resumes every continuation on the generic executor, which for such a
// task is the global one: the task would wake a pool thread, only to hop back to
// the loop. The runtime's global-enqueue hook lets us send it to the loop instead,
// but only for the one job the resumer names: the resumer stores the loop in
// `resume_target` (this thread's), resumes, and clears it. The enqueue happens
// inside the resume, on this thread, so no other job can see the mark.
#include "cnetpoll.h"

#include <pthread.h>
#include <stddef.h>

typedef __attribute__((swiftcall)) void (*cnp_enqueue_original)(void *job);
typedef __attribute__((swiftcall)) void (*cnp_enqueue_hook)(void *job, cnp_enqueue_original original);

// The runtime's current task (a TLS read), in the Swift calling convention (see
// docs/runtime-tricks.md#current-task).
extern __attribute__((swiftcall)) void *swift_task_getCurrent(void);
extern __attribute__((swiftcall)) bool swift_task_isCancelled(void *task);

// The Swift runtime's hook (libswift_Concurrency). Weak, so a runtime without it
// leaves the hook uninstalled and resumes take the global executor's way (see
// docs/runtime-tricks.md#enqueue-hook).
extern cnp_enqueue_hook swift_task_enqueueGlobal_hook __attribute__((weak));

static __thread void *resume_target;
static cnp_enqueue_hook previous_hook;
static cnp_divert_fn divert;
static pthread_once_t install_once = PTHREAD_ONCE_INIT;
static int installed;

static __attribute__((swiftcall)) void netpoll_enqueue_global(void *job, cnp_enqueue_original original) {
    void *target = resume_target;
    if (target != NULL) {
        // Cleared first: if the loop has stopped it hands the job to the global
        // executor, which comes back through here and must then pass.
        resume_target = NULL;
        divert(target, job);
        return;
    }
    if (previous_hook != NULL) {
        previous_hook(job, original);
    } else {
        original(job);
    }
}

// See docs/runtime-tricks.md#enqueue-hook.
static void install(void) {
    if (&swift_task_enqueueGlobal_hook == NULL) return;
    // Chains to a hook installed before us (e.g. an executor takeover); one
    // installed after us that does not chain only turns the fast path off.
    previous_hook = swift_task_enqueueGlobal_hook;
    swift_task_enqueueGlobal_hook = netpoll_enqueue_global;
    installed = 1;
}

int cnp_install_resume_hook(cnp_divert_fn fn) {
    divert = fn;  // the same function on every call
    pthread_once(&install_once, install);
    return installed;
}

void cnp_set_resume_target(void *loop) { resume_target = loop; }

// See docs/runtime-tricks.md#current-task.
const void *cnp_current_task(void) { return swift_task_getCurrent(); }

bool cnp_current_task_is_cancelled(void) {
    void *task = swift_task_getCurrent();
    return task != NULL && swift_task_isCancelled(task);
}
