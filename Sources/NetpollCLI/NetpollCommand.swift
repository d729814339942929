import ArgumentParser

@main
struct NetpollCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "netpoll",
        abstract: "Go's network poller in Swift: epoll and io_uring backends, benchmarks and tools.",
        subcommands: [BenchCommand.self, LoadCommand.self, EchoServerCommand.self, InfoCommand.self]
    )
}
