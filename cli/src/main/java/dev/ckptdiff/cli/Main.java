package dev.ckptdiff.cli;

import java.io.PrintWriter;

import picocli.CommandLine;

import dev.ckptdiff.io.BadInputException;

/** Entry point: exit 0 clean, 1 findings, 2 bad input or usage. */
public final class Main {
    public static final int FINDINGS = 1;
    public static final int BAD_INPUT = 2;

    private Main() {
    }

    public static void main(String[] args) {
        System.exit(run(new PrintWriter(System.out, true), new PrintWriter(System.err, true), args));
    }

    /** Runs the CLI with the given streams; tests call this. */
    public static int run(PrintWriter out, PrintWriter err, String... args) {
        CommandLine cl = new CommandLine(new DiffCommand());
        cl.setOut(out);
        cl.setErr(err);
        cl.setExecutionExceptionHandler((ex, line, parsed) -> {
            if (ex instanceof CommandLine.ParameterException pe) {
                return cl.getParameterExceptionHandler().handleParseException(pe, args);
            }
            line.getErr().println("ckpt-diff: " + oneLine(ex));
            if (Boolean.getBoolean("ckptdiff.debug")) {
                ex.printStackTrace(line.getErr());
            }
            return BAD_INPUT;
        });
        cl.setParameterExceptionHandler((ex, a) -> {
            CommandLine c = ex.getCommandLine();
            c.getErr().println("ckpt-diff: " + ex.getMessage());
            c.getErr().println("Try '" + c.getCommandSpec().qualifiedName() + " --help' for more information.");
            return BAD_INPUT;
        });
        try {
            return cl.execute(args);
        } catch (OutOfMemoryError e) {
            err.println("ckpt-diff: out of memory (" + e.getMessage() + "); this is a bug: memory use should not grow"
                    + " with the model");
            return BAD_INPUT;
        }
    }

    static String oneLine(Throwable ex) {
        if (ex instanceof BadInputException) {
            return ex.getMessage();
        }
        if (ex instanceof java.io.UncheckedIOException u && u.getCause() != null) {
            return u.getCause().getMessage();
        }
        String m = ex.getMessage();
        return ex.getClass().getSimpleName() + (m == null ? "" : ": " + m.lines().findFirst().orElse(""))
                + " (run with -Dckptdiff.debug=true for details)";
    }
}
