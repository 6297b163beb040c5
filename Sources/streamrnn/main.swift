import StreamRNNCommands

StreamRNN.main()
