global using Timer = Sluice.Stack.Time.Timer;
