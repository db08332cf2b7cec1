using ProfileSync.Cli;

return await ProfileSyncCli.RunAsync(args, Console.Out, Console.Error);
