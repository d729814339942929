@testable import Netpoll

/// True in a fault-injection run (trait FaultInjection, NETPOLL_FAULTS set:
/// scripts/test-faults). Only for the few assertions about a mechanism that the
/// injected faults legitimately pre-empt (each says which and why); never for one
/// about data, hangs or resumes.
let faultInjectionIsOn: Bool = {
    #if FaultInjection
    return FaultInjection.config != nil
    #else
    return false
    #endif
}()
