import ArgumentParser

struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "bench", abstract: "(being written)")
    func run() async throws { throw ValidationError("bench is not built yet") }
}
