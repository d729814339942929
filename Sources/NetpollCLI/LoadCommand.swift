import ArgumentParser

struct LoadCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "load", abstract: "(being written)")
    func run() async throws { throw ValidationError("load is not built yet") }
}
