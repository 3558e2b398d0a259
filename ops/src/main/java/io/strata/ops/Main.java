package io.strata.ops;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The {@code strata} command line. Each subcommand is its own class; contracts in DESIGN.md's CLI table. */
@Command(name = "strata", mixinStandardHelpOptions = true, version = "strata 0.1.0",
        description = "Serve one large language model across a fleet of machines.",
        subcommands = {
                CommandLine.HelpCommand.class,
                io.strata.ops.cluster.LocalCommand.class,
                io.strata.ops.cluster.ZookeeperCommand.class,
                io.strata.ops.cluster.CoordinatorCommand.class,
                io.strata.ops.cluster.WorkerCommand.class,
                io.strata.ops.cluster.PlanCommand.class,
                LogitsCommand.class,
                BenchCommand.class,
                TokenizeCommand.class,
                SynthCommand.class,
                GenerateCommand.class,
        })
public final class Main implements Runnable {

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    public static void main(String[] args) {
        int code = commandLine().execute(args);
        System.exit(code);
    }

    /** The configured command line (tests call {@code execute} on it in-process). */
    public static CommandLine commandLine() {
        CommandLine cl = new CommandLine(new Main());
        cl.setExecutionExceptionHandler((ex, cmd, parsed) -> {
            cmd.getErr().println("strata " + cmd.getCommandName() + ": " + message(ex));
            if (System.getenv("STRATA_DEBUG") != null) ex.printStackTrace(cmd.getErr());
            return 1;
        });
        return cl;
    }

    private static String message(Throwable t) {
        String m = t.getMessage();
        return m == null || m.isBlank() ? t.toString() : m;
    }

    @Override
    public void run() {
        spec.commandLine().usage(System.out);
    }
}
